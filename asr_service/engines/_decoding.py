"""Decoding policy of the CTranslate2 Whisper engine: window choice, token cap, degeneracy checks.

Pure functions on numbers and token ids, so that each rule is unit-tested without a model.

Why these rules (measured on ../shared/data/speech, tiny.en int8, 2 cores, greedy decoding):

* Whisper pads every clip to a 30 s window; the encoder over 3000 frames is most of the cost
  (about 250-480 ms here, versus 35-55 ms for a 10 s window). CTranslate2 accepts fewer frames.
* Windows shorter than 10 s make tiny.en loop ("Go forward 10 meters. Go forward 10 meters. ..."):
  with the window at clip + 1 s, 18 of 62 clips (<= 30 s) repeated themselves and WER went from
  13 % to 51 %; clip + 3 s still gave 32 %; windows of 8 s and 9 s gave WER 21 % / 20 % on clips
  <= 8 s. From 10 s up, WER matched the 30 s window (15.5 % on clips <= 8 s, for 10, 12, 15 s alike).
  So the window is the smallest bucket holding the clip plus 2 s of padding, and never under 10 s.
* Text runs at most about 4.6 tokens/s on this set (timestamps excluded), so a cap of 7 tokens/s
  + 12 leaves room for fast digit strings while a runaway loop stops after a few repeats.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DecodeOptions",
    "Degeneracy",
    "check_degenerate",
    "choose_window_s",
    "compression_ratio",
    "is_noise_text",
    "longest_repeat",
    "max_new_tokens",
    "split_at_last_segment",
]

TIMESTAMP_PRECISION_S = 0.02  # one Whisper timestamp token step
FULL_WINDOW_S = 30.0  # Whisper's training window


@dataclass(frozen=True, kw_only=True)
class DecodeOptions:
    """Decoding options that shape the output; their hash is `EngineInfo.config_hash`."""

    # Fast path: the encoder sees the clip zero-padded to the smallest bucket >= clip + padding.
    min_padding_s: float = 2.0
    window_buckets_s: tuple[float, ...] = (10.0, 15.0, 20.0, FULL_WINDOW_S)
    use_fast_path: bool = True
    fallback_to_full_window: bool = True
    # Token cap for one window: tokens_per_s * seconds of audio + base (Whisper's own cap is 224).
    max_tokens_per_s: float = 7.0
    max_tokens_base: int = 12
    # Degeneracy: Whisper's compression ratio threshold, and consecutive repeats of a span.
    compression_ratio_threshold: float = 2.4
    min_repeated_span_tokens: int = 4  # a repeated span this long (twice in a row) is a loop...
    # ...and so is any shorter span repeated until it covers this many tokens. Not less: tiny.en
    # rightly wrote "Word. Word. Word. Word. Word. Word." (12 tokens) for a speaker saying it 5 times.
    min_repeated_short_tokens: int = 16
    # Whisper's silence rule: no-speech prob above this AND avg logprob below the next means "no speech".
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    # What tiny.en writes on a clip of noise alone, confidently enough to pass the rule above: "you" (33 of the
    # 36 texts on 60 s each of swelling white, pink and brown noise at -35 to -25 dBFS cut by the client VAD;
    # the other 3 were loops). Its no-speech probability there was 0.89-0.97; for "you" really said (espeak-ng,
    # 5 voices, clean and at 10 dB SNR, 30 clips) 0.26-0.61. Such a text above this probability is silence.
    noise_texts: tuple[str, ...] = ("you",)
    noise_text_no_speech_prob: float = 0.75
    # A clip louder than this that decodes to nothing (and the model is not sure it is silence) is
    # treated as degenerate and retried on the full window.
    speech_rms_floor_dbfs: float = -50.0
    max_initial_timestamp_s: float = 1.0
    # Decode the short window with timestamp tokens (Whisper's timestamp rules on). The full-window
    # fallback always does. Without them the 10 s window looped on 3 of the 66 shared clips (p95 on
    # clips <= 8 s 189 -> 482 ms through the fallbacks, WER 11.54 -> 11.63 %).
    fast_path_timestamps: bool = True
    # Long clips: prompt each 30 s window with the text so far, as Whisper and faster-whisper do.
    condition_on_previous_text: bool = True
    # A clip in a session: at most this many tokens of the previous clip's text as the prompt
    # (`Engine.transcribe(context=...)`); 0 ignores the context.
    max_context_tokens: int = 64
    beam_size: int = 1
    suppress_blank: bool = True
    suppress_tokens: tuple[int, ...] = (-1,)  # -1: the model's config.json set of non-speech symbols

    def __post_init__(self) -> None:
        if not self.window_buckets_s or any(b <= 0 or b > FULL_WINDOW_S for b in self.window_buckets_s):
            raise ValueError(f"window_buckets_s: each bucket must be in (0, {FULL_WINDOW_S}] s")
        if tuple(sorted(self.window_buckets_s)) != self.window_buckets_s:
            raise ValueError("window_buckets_s: must be sorted ascending")
        if self.window_buckets_s[-1] != FULL_WINDOW_S:
            raise ValueError(f"window_buckets_s: the last bucket must be the full {FULL_WINDOW_S} s window")
        if self.min_padding_s < 0:
            raise ValueError(f"min_padding_s: must be >= 0, got {self.min_padding_s}")
        if self.max_tokens_per_s <= 0 or self.max_tokens_base < 1:
            raise ValueError("max_tokens_per_s / max_tokens_base: must be positive")
        if self.beam_size < 1:
            raise ValueError(f"beam_size: must be >= 1, got {self.beam_size}")
        if not 0 <= self.noise_text_no_speech_prob <= 1:
            raise ValueError(f"noise_text_no_speech_prob: must be in [0, 1], got {self.noise_text_no_speech_prob}")

    @property
    def max_initial_timestamp_index(self) -> int:
        """`max_initial_timestamp_s` in timestamp tokens, as the decoders take it."""
        return round(self.max_initial_timestamp_s / TIMESTAMP_PRECISION_S)


def choose_window_s(duration_s: float, options: DecodeOptions) -> float:
    """Seconds of (zero-padded) audio the encoder sees for a clip of `duration_s`.

    The smallest bucket that holds the clip plus `min_padding_s`; the full window when the fast path
    is off or nothing smaller fits. Buckets keep behaviour stable: clips of 2 s and 7 s get the same
    10 s window, so a small change in clip length never changes the window the model sees.
    """
    if not options.use_fast_path:
        return FULL_WINDOW_S
    needed_s = duration_s + options.min_padding_s
    for bucket_s in options.window_buckets_s:
        if needed_s <= bucket_s:
            return bucket_s
    return FULL_WINDOW_S


def is_noise_text(text: str, no_speech_prob: float, options: DecodeOptions) -> bool:
    """True for a text the model writes on noise alone ("you", any case or punctuation) while it finds no
    speech likely (`noise_text_no_speech_prob`)."""
    if no_speech_prob <= options.noise_text_no_speech_prob:
        return False
    return " ".join(re.findall(r"[\w']+", text.lower())) in options.noise_texts


def max_new_tokens(audio_s: float, options: DecodeOptions, *, limit: int) -> int:
    """Token cap for decoding `audio_s` seconds of speech (timestamps included), at most `limit`."""
    cap = math.ceil(options.max_tokens_per_s * max(audio_s, 0.0)) + options.max_tokens_base
    return max(1, min(cap, limit))


def compression_ratio(text: str) -> float:
    """Whisper's gzip compression ratio: high for repetitive text. 0 for empty text."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def longest_repeat(tokens: Sequence[int]) -> tuple[int, int]:
    """(span length, copies) of the consecutive repeat covering the most tokens; (0, 0) if none.

    "a b c a b c a b c" gives (3, 3). Quadratic in the (capped, so short) sequence length.
    """
    best = (0, 0)
    n_tokens = len(tokens)
    for span in range(1, n_tokens // 2 + 1):
        start = 0
        while start + 2 * span <= n_tokens:
            copies = 1
            while (
                start + (copies + 1) * span <= n_tokens
                and tokens[start + copies * span : start + (copies + 1) * span]
                == tokens[start : start + span]
            ):
                copies += 1
            if copies > 1 and span * copies > best[0] * best[1]:
                best = (span, copies)
            start += 1
    return best


@dataclass(frozen=True, kw_only=True)
class Degeneracy:
    """Why an output looks degenerate; empty `reasons` means it looks fine."""

    reasons: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.reasons)


def check_degenerate(
    *,
    text_tokens: Sequence[int],
    text: str,
    hit_token_cap: bool,
    no_speech_prob: float,
    clip_rms_dbfs: float,
    options: DecodeOptions,
) -> Degeneracy:
    """The rules that send a fast-path output to the full window.

    Timestamps are not used: tiny.en's timestamps in a padded 10 s window are loose (a 2.8 s command
    ended at <|7.00|>, a 4 s one at <|12.78|>, past the window). Flagging a timestamp past the clip end
    fell back on 10 of 62 correctly transcribed clips, past the window on 1, and neither caught a
    loop that the token cap and the repeat rule missed.
    """
    reasons: list[str] = []
    if hit_token_cap:
        reasons.append("token_cap")
    if compression_ratio(text) > options.compression_ratio_threshold:
        reasons.append("compression_ratio")
    span, copies = longest_repeat(text_tokens)
    if copies >= 2 and (
        span >= options.min_repeated_span_tokens or span * copies >= options.min_repeated_short_tokens
    ):
        reasons.append("repetition")
    if (
        not text
        and no_speech_prob < options.no_speech_threshold
        and clip_rms_dbfs > options.speech_rms_floor_dbfs
    ):
        reasons.append("empty_on_speech")
    return Degeneracy(reasons=tuple(reasons))


def split_at_last_segment(
    tokens: Sequence[int], *, timestamp_begin: int, segment_s: float
) -> tuple[list[int], float]:
    """For long-form decoding: the tokens to keep from one window and how far to seek, in seconds.

    Whisper's rule: when the output ends inside an unfinished segment (the last timestamp pair is
    followed by more text), keep up to that pair and seek to its timestamp, so the unfinished speech
    is decoded again at the start of the next window; otherwise keep everything and seek a full window.
    """
    consecutive = [
        i for i in range(1, len(tokens)) if tokens[i] >= timestamp_begin and tokens[i - 1] >= timestamp_begin
    ]
    single_timestamp_ending = len(tokens) >= 2 and tokens[-2] < timestamp_begin <= tokens[-1]
    if not consecutive or single_timestamp_ending:
        return list(tokens), segment_s
    cut = consecutive[-1]
    seek_s = (tokens[cut - 1] - timestamp_begin) * TIMESTAMP_PRECISION_S
    if not 0 < seek_s <= segment_s:  # a loose timestamp must never stall or skip audio
        return list(tokens), segment_s
    return list(tokens[:cut]), seek_s
