"""Whisper on CTranslate2, with a short-window fast path and a full-window fallback.

The fast path (see `_decoding` for the measurements behind each rule):

1. pad the clip with zeros in the audio domain to the smallest bucket of (10, 15, 20, 30) s holding
   clip + 2 s, compute the log-mel for that window only, and encode it (a 10 s window costs about a
   fifth of the 30 s one on 2 cores);
2. decode greedily WITH timestamp tokens (Whisper's timestamp rules stay on), a token cap of
   7 tokens/s + 12, `suppress_blank`, and the model's non-speech symbols suppressed;
3. apply Whisper's silence rule (no-speech prob > 0.6 and avg logprob < -1 gives no text), and take
   "you" with a no-speech prob over 0.75 for silence too (what tiny.en writes on noise alone);
4. if the output looks degenerate (token cap hit, compression ratio > 2.4, a repeated span, or
   no text on a clip with energy while the model does not call it silence), decode again on the
   standard 30 s window and say so in `Transcription.used_fallback`.

Clips longer than 28 s are decoded as Whisper does: consecutive 30 s windows, each seeking to the
last complete segment's timestamp and prompted with the previous window's text.

Languages: an English-only model decodes after <|startoftranscript|> alone. A multilingual one
decodes after <|startoftranscript|><|xx|><|transcribe|>, with xx the language asked for (English by
default), or, for "auto", the one Whisper's detection picks on the clip's first encoder output
(one decoder step; the window is not encoded again), used for every window of the clip.

Loading (the model, tokenizer, the encoder and decoder behind the `Encoder` and `Decoder` protocols)
is `_loading`'s; this module is the decode loop over windows. Loading limits numpy's BLAS to one
thread in the process.

Thread safety: the encoders and decoders release the GIL and may be called from every worker at once
(ONNX Runtime sessions run concurrently; the CTranslate2 model runs `num_workers` replicas, and calls
beyond that queue inside CTranslate2). A clip alone in the engine encodes on a second encoder with
`solo_threads` threads instead (a counter of the clips in `transcribe` decides). Everything else
here is read-only after loading.
"""

from __future__ import annotations

import logging
import math
import wave
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._decoder import Decoder, Encoder, LanguageDetector
from asr_service.engines._decoding import (
    FULL_WINDOW_S,
    DecodeOptions,
    Degeneracy,
    check_degenerate,
    choose_window_s,
    is_noise_text,
    max_new_tokens,
    split_at_last_segment,
)
from asr_service.engines._loading import LoadedModel, load_model
from asr_service.engines._mel import HOP_LENGTH_SAMPLES, LogMel
from asr_service.engines._onnx_model import OnnxWhisperModel
from asr_service.engines.base import (
    SAMPLE_RATE_HZ,
    EngineInfo,
    EngineOptions,
    ForegroundGate,
    Transcription,
    background_gate,
    in_background,
    yield_to_foreground,
)

__all__ = ["CTranslate2WhisperEngine", "DecodeOptions"]

logger = logging.getLogger(__name__)

_MODEL_MAX_LENGTH_TOKENS = 448  # Whisper's decoder context (prompt + generated)
_MAX_PROMPT_TOKENS = _MODEL_MAX_LENGTH_TOKENS // 2 - 1  # previous-text prompt, as Whisper
_SILENCE_DBFS = -120.0
_FULL_WINDOW_FRAMES = round(FULL_WINDOW_S * SAMPLE_RATE_HZ / HOP_LENGTH_SAMPLES)  # 3000
_WARM_UP_S = 3.0
AUTO_LANGUAGE = "auto"  # `transcribe(language=...)`: detect the language


@dataclass(frozen=True, kw_only=True)
class _Window:
    """What the model produced for one encoder window."""

    tokens: list[int]  # generated ids, timestamps included, EOT excluded
    text_tokens: list[int]
    text: str
    avg_logprob: float
    no_speech_prob: float
    hit_token_cap: bool
    window_s: float


def _rms_dbfs(audio: npt.NDArray[np.float32]) -> float:
    if audio.size == 0:
        return _SILENCE_DBFS
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else _SILENCE_DBFS


class CTranslate2WhisperEngine:
    """A Whisper model (CTranslate2 format) behind the `Engine` protocol."""

    def __init__(self, options: EngineOptions, decode_options: DecodeOptions | None = None, *,
                 loaded: LoadedModel | None = None) -> None:
        """Load the model `options` names, or run on `loaded` parts another engine built (the transformers
        engine runs this decode loop over its own network)."""
        self._options = options
        self._decode = decode_options or DecodeOptions()
        loaded = loaded or load_model(options, self._decode)
        self._encoder: Encoder | None = loaded.encoder
        self._solo_encoder: Encoder | None = loaded.solo_encoder
        self._onnx_model: OnnxWhisperModel | None = loaded.onnx_model
        self._decoder: Decoder | None = loaded.decoder
        self._detector: LanguageDetector | None = loaded.detector
        self._gate = ForegroundGate()  # the clips in `transcribe` now, but for background work
        self._tokenizer = loaded.tokenizer
        self._tokens = loaded.tokens
        self._mel = LogMel(loaded.n_mels)
        self._info = loaded.info
        # the start of the prompt for each language, looked up once
        self._sot_sequences = {code: loaded.tokens.sot_sequence_for(code) for code in loaded.tokens.languages}

    @property
    def info(self) -> EngineInfo:
        """Identity of the loaded model and decoding options."""
        return self._info

    @property
    def decode_options(self) -> DecodeOptions:
        """The decoding options in use."""
        return self._decode

    def warm_up(self) -> None:
        """Run the model on real speech before it takes traffic (the embedded sample's first 3 s, then its
        first second: both window sizes), so that the first user's clip does not pay for first-call
        allocations. A deployment calls it when it loads a model."""
        audio = _warm_up_audio()
        self.transcribe(audio)
        self.transcribe(audio[:SAMPLE_RATE_HZ])

    def close(self) -> None:
        """Release the model; later calls to `transcribe` raise RuntimeError."""
        for encoder in (self._encoder, self._solo_encoder):
            if encoder is not None:
                encoder.close()
        self._encoder = None
        self._solo_encoder = None
        self._decoder = None
        self._detector = None
        if self._onnx_model is not None:
            self._onnx_model.close()

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        """Transcribe 16 kHz mono float32 audio in [-1, 1]. Thread-safe.

        `context` is the text said just before this clip (the previous clip's transcript in a
        session); its last `max_context_tokens` tokens become Whisper's previous-text prompt.
        `language`: one of `info.languages`, "" for the default ("en"), or "auto" to detect it
        (an English-only model answers "en"); ValueError for any other.
        """
        encoder = self._encoder
        if encoder is None:
            raise RuntimeError("engine: transcribe() called after close()")
        requested = self._requested_language(language)
        previous = self._context_tokens(context)
        # Background work (a shadow's clips, a session's second pass) is not counted as a clip: a clip beside
        # it is still alone among the clips users wait for, and keeps the all-cores encoder (counted, a second
        # pass took that from every clip it overlapped). It waits at its checkpoints while clips run instead.
        if in_background():
            background_gate(self._gate)  # its checkpoints: `_encode`, and the decoder's steps
            try:
                return self._transcribe(encoder, audio, previous, requested)
            finally:
                background_gate(None)
        self._gate.enter()
        try:
            return self._transcribe(encoder, audio, previous, requested)
        finally:
            self._gate.leave()

    def _requested_language(self, language: str) -> str:
        """A language code of the model, or "auto" for a multilingual model that is to detect it."""
        languages = self._info.languages
        if not language:
            return languages[0]
        if language == AUTO_LANGUAGE:
            return AUTO_LANGUAGE if self._info.multilingual else languages[0]
        if language not in self._sot_sequences:
            allowed = f"one of {len(languages)} codes such as 'en', 'de', 'fr'" if self._info.multilingual else "'en'"
            raise ValueError(f"language: {language!r} is not a language of {self._info.model_id} "
                             f"(expected '', {AUTO_LANGUAGE!r} or {allowed})")
        return language

    def _language(self, requested: str, encoded: Any) -> str:
        """The language to decode in: `requested`, or for "auto" the one detected on `encoded`."""
        if requested != AUTO_LANGUAGE:
            return requested
        detector = self._detector
        if detector is None:
            raise RuntimeError("engine: transcribe() called after close()")
        language, probability = detector.detect_language(encoded)
        logger.debug("detected language %s (p=%.2f)", language, probability)
        return language

    def _encode(self, encoder: Encoder, features: npt.NDArray[np.float32]) -> Any:
        """The encoder output of `features`: on every core when this clip is alone in the engine (and is not
        background work, which must leave the other cores to the clips users wait for)."""
        yield_to_foreground()  # background work: not while a clip is being answered
        solo = self._solo_encoder
        alone = self._gate.active == 1 and not in_background()  # a plain read; the gate's lock guards the updates
        return (solo if solo is not None and alone else encoder).encode(features)

    def _context_tokens(self, context: str) -> list[int]:
        cap = self._decode.max_context_tokens
        text = " ".join(context.split())
        if not text or cap == 0:
            return []
        # A leading space, as the words of running text are tokenised.
        return list(self._tokenizer.encode(" " + text, add_special_tokens=False).ids)[-cap:]

    def _transcribe(
        self, encoder: Encoder, audio: npt.NDArray[np.float32], previous: list[int], requested: str
    ) -> Transcription:
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"audio: expected 1-D mono samples, got shape {samples.shape}")
        duration_s = samples.shape[0] / SAMPLE_RATE_HZ
        if samples.shape[0] < HOP_LENGTH_SAMPLES:  # nothing to detect a language on: the default
            return _empty_result(window_s=0.0,
                                 language=self._info.languages[0] if requested == AUTO_LANGUAGE else requested)
        if duration_s + self._decode.min_padding_s > FULL_WINDOW_S:
            return self._transcribe_long(encoder, samples, previous, requested)
        return self._transcribe_short(encoder, samples, duration_s, previous, requested)

    # -- one clip that fits in one window -------------------------------------------------------

    def _transcribe_short(
        self, encoder: Encoder, samples: npt.NDArray[np.float32], duration_s: float, previous: list[int],
        requested: str,
    ) -> Transcription:
        window_s = choose_window_s(duration_s, self._decode)
        energy_dbfs = _rms_dbfs(samples)
        features, timestamps = self._window_features(samples, window_s)
        encoded = self._encode(encoder, features)  # once: a retry without the prompt reads it again
        language = self._language(requested, encoded)
        sot = self._sot_sequences[language]
        result, used_fallback = self._decode_prompted(
            lambda prompt: self._decode_encoded(encoded, features.shape[1], audio_s=duration_s, previous=prompt,
                                                timestamps=timestamps, sot=sot),
            previous, energy_dbfs)
        encoded_s = window_s  # seconds of audio the encoder saw, over every attempt
        # one retry on the full window when the output still looks degenerate
        full_window_left = window_s < FULL_WINDOW_S and self._decode.fallback_to_full_window
        while True:
            if self._is_silence(result):
                return _empty_result(window_s=encoded_s, no_speech_prob=result.no_speech_prob,
                                     avg_logprob=result.avg_logprob, used_fallback=used_fallback, language=language)
            degeneracy = self._degeneracy(result, energy_dbfs)
            if not degeneracy or not full_window_left:
                break
            logger.debug("decode looked degenerate (%s): %r", ", ".join(degeneracy.reasons), result.text)
            full_window_left = False
            used_fallback = True
            encoded_s += FULL_WINDOW_S
            result = self._decode_window(encoder, samples, window_s=FULL_WINDOW_S, sot=sot)
        return Transcription(
            text=result.text,
            confidence=_confidence(result.avg_logprob),
            no_speech_prob=result.no_speech_prob,
            avg_logprob=result.avg_logprob,
            num_tokens=len(result.text_tokens),
            window_s=encoded_s,
            used_fallback=used_fallback,
            degenerate=bool(degeneracy),
            language=language,
        )

    # -- clips longer than one window ------------------------------------------------------------

    def _transcribe_long(
        self, encoder: Encoder, samples: npt.NDArray[np.float32], context: list[int], requested: str
    ) -> Transcription:
        """Consecutive 30 s windows over the clip's features, as faster-whisper's `transcribe`.

        The first window is prompted with `context` (the session's previous text), later ones with
        the text so far. For "auto", the language is detected on the first window, as faster-whisper does."""
        features = self._full_clip_features(samples)
        content_frames = features.shape[1]
        window_frames = _FULL_WINDOW_FRAMES
        seek = 0
        texts: list[str] = []
        previous = list(context)
        windows: list[_Window] = []
        used_fallback = degenerate = False
        language: str | None = None
        sot: tuple[int, ...] | None = None
        while seek < content_frames:
            segment_frames = min(window_frames, content_frames - seek)
            segment = _pad_frames(features[:, seek : seek + segment_frames], window_frames)
            segment_s = segment_frames * HOP_LENGTH_SAMPLES / SAMPLE_RATE_HZ
            energy = _rms_dbfs(samples[seek * HOP_LENGTH_SAMPLES : (seek + segment_frames) * HOP_LENGTH_SAMPLES])
            encoded = self._encode(encoder, segment)  # once: a retry without the prompt reads it again
            if language is None or sot is None:
                language = self._language(requested, encoded)
                sot = self._sot_sequences[language]
            result, retried_better = self._decode_prompted(
                lambda prompt: self._decode_encoded(encoded, window_frames, audio_s=segment_s,  # noqa: B023
                                                    previous=prompt, sot=sot),  # noqa: B023
                previous, energy)
            used_fallback = used_fallback or retried_better
            looks_degenerate = not self._is_silence(result) and bool(self._degeneracy(result, energy))
            windows.append(result)
            if self._is_silence(result):
                seek += segment_frames
                continue
            degenerate = degenerate or looks_degenerate
            kept, seek_s = split_at_last_segment(
                result.tokens, timestamp_begin=self._tokens.timestamp_begin, segment_s=segment_s
            )
            texts.append(self._tokenizer.decode([t for t in kept if t < self._tokens.eot]))
            # a repetitive window would prime the next one to repeat it: do not prompt with it
            use_as_prompt = self._decode.condition_on_previous_text and not looks_degenerate
            previous = (previous + kept)[-_MAX_PROMPT_TOKENS:] if use_as_prompt else []
            seek += max(1, round(seek_s * SAMPLE_RATE_HZ / HOP_LENGTH_SAMPLES))
        return _merge_windows(windows, "".join(texts).strip(), used_fallback=used_fallback, degenerate=degenerate,
                              language=language or self._info.languages[0])

    # -- roles -------------------------------------------------------------------------------------

    def _decode_prompted(
        self, decode: Callable[[list[int] | None], _Window], previous: list[int], energy_dbfs: float
    ) -> tuple[_Window, bool]:
        """Decode with the previous-text prompt; if that output looks degenerate or unsure (average
        log-probability under Whisper's `log_prob_threshold`, the rule behind its temperature fallback),
        decode again without the prompt, as Whisper drops its prompt after a fallback, and keep the
        better: not degenerate first, then the higher average log-probability.

        `decode` decodes the window's encoder output after a prompt (None: no previous text), so the
        window is encoded once. Returns (the result, whether the retry won). Without a prompt, one decode.
        A prompt that went wrong otherwise carries its error on: in a 141 s talk, one unsure 30 s window
        ("thanks the the the the the", avg log-prob -1.72) prompted the next three, and 109 of its 207
        words were lost (faster-whisper, which falls back on the same rule, lost 11).
        """
        result = decode(previous or None)
        if not previous or self._is_silence(result):
            return result, False
        degenerate = bool(self._degeneracy(result, energy_dbfs))
        if not degenerate and result.avg_logprob >= self._decode.log_prob_threshold:
            return result, False
        retry = decode(None)
        retry_degenerate = not self._is_silence(retry) and bool(self._degeneracy(retry, energy_dbfs))
        if (retry_degenerate, -retry.avg_logprob) < (degenerate, -result.avg_logprob):
            return retry, True
        return result, False

    def _decode_window(
        self, encoder: Encoder, samples: npt.NDArray[np.float32], *, window_s: float, sot: tuple[int, ...]
    ) -> _Window:
        """Encode and decode, without a prompt, a clip that fits in one window of `window_s` seconds."""
        features, timestamps = self._window_features(samples, window_s)
        return self._decode_encoded(self._encode(encoder, features), features.shape[1],
                                    audio_s=samples.shape[0] / SAMPLE_RATE_HZ, timestamps=timestamps, sot=sot)

    def _window_features(
        self, samples: npt.NDArray[np.float32], window_s: float
    ) -> tuple[npt.NDArray[np.float32], bool]:
        """The log-mel features of a clip in a window of `window_s` seconds, and whether to decode it
        with timestamp tokens."""
        if window_s < FULL_WINDOW_S:
            # Fast path: zero-pad in the audio domain, so the padded frames sit at the log-mel floor.
            n_frames = round(window_s * SAMPLE_RATE_HZ / HOP_LENGTH_SAMPLES)
            return self._mel(samples, n_frames=n_frames), self._decode.fast_path_timestamps
        # The standard decode, as faster-whisper does it (our baseline): features of the clip,
        # zero-padded in the feature domain to 3000 frames.
        return _pad_frames(self._full_clip_features(samples), _FULL_WINDOW_FRAMES), True

    def _full_clip_features(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """faster-whisper's features of a whole clip: 160 zeros appended, the last frame dropped."""
        padded = np.concatenate([samples, np.zeros(HOP_LENGTH_SAMPLES, dtype=np.float32)])
        return self._mel(padded)[:, :-1]

    def _decode_encoded(
        self, encoded: Any, n_frames: int, *, audio_s: float, previous: list[int] | None = None,
        timestamps: bool = True, sot: tuple[int, ...] | None = None,
    ) -> _Window:
        """Decode the encoder output of one window of `n_frames` frames greedily, with timestamps and a cap on
        the output length. `sot`: the start of the prompt (<|startoftranscript|>, and a multilingual model's
        language and task tokens); the default language's when None."""
        decoder = self._decoder
        if decoder is None:
            raise RuntimeError("engine: transcribe() called after close()")
        prompt = ([self._tokens.sot_prev, *previous] if previous else []) + list(sot or self._tokens.sot_sequence)
        if not timestamps:
            prompt = [*prompt, self._tokens.no_timestamps]
        cap = max_new_tokens(audio_s, self._decode, limit=_MODEL_MAX_LENGTH_TOKENS - len(prompt))
        result = decoder.decode(encoded, prompt, max_new_tokens=cap, timestamps=timestamps)
        text_tokens = [t for t in result.tokens if t < self._tokens.eot]
        scored = len(result.tokens) + (1 if result.ended else 0)  # end-of-text is scored too
        return _Window(
            tokens=result.tokens,
            text_tokens=text_tokens,
            text=self._tokenizer.decode(text_tokens).strip(),
            avg_logprob=result.sum_logprob / max(1, scored),
            no_speech_prob=result.no_speech_prob,
            hit_token_cap=not result.ended,  # both decoders stop short of the cap only at end-of-text
            window_s=n_frames * HOP_LENGTH_SAMPLES / SAMPLE_RATE_HZ,
        )

    def _is_silence(self, result: _Window) -> bool:
        """Whisper's rule: the model says no speech and is unsure of what it wrote; or it wrote what it writes on
        noise alone and says no speech is likely (`DecodeOptions.noise_texts`)."""
        return (
            result.no_speech_prob > self._decode.no_speech_threshold
            and result.avg_logprob < self._decode.log_prob_threshold
        ) or is_noise_text(result.text, result.no_speech_prob, self._decode)

    def _degeneracy(self, result: _Window, clip_rms_dbfs: float) -> Degeneracy:
        return check_degenerate(
            text_tokens=result.text_tokens,
            text=result.text,
            hit_token_cap=result.hit_token_cap,
            no_speech_prob=result.no_speech_prob,
            clip_rms_dbfs=clip_rms_dbfs,
            options=self._decode,
        )

def _warm_up_audio() -> npt.NDArray[np.float32]:
    """The first seconds of the embedded sample (asr_service/data/jfk.wav, 16 kHz mono 16-bit)."""
    with resources.as_file(resources.files("asr_service") / "data" / "jfk.wav") as path, wave.open(str(path)) as w:
        frames = w.readframes(int(w.getframerate() * _WARM_UP_S))
    return np.frombuffer(frames, dtype=np.int16).astype(np.float32) / 32768.0


def _confidence(avg_logprob: float) -> float:
    """Geometric mean of the generated tokens' probabilities (EOT included), in [0, 1]."""
    return min(1.0, max(0.0, math.exp(avg_logprob)))


def _empty_result(
    *,
    window_s: float,
    no_speech_prob: float = 1.0,
    avg_logprob: float = 0.0,
    used_fallback: bool = False,
    language: str = "en",
) -> Transcription:
    # An empty result's confidence is the model's confidence that nothing was said.
    return Transcription(
        text="",
        confidence=min(1.0, max(0.0, no_speech_prob)),
        no_speech_prob=no_speech_prob,
        avg_logprob=avg_logprob,
        num_tokens=0,
        window_s=window_s,
        used_fallback=used_fallback,
        degenerate=False,
        language=language,
    )


def _pad_frames(features: npt.NDArray[np.float32], n_frames: int) -> npt.NDArray[np.float32]:
    """Zero-pad (or cut) features to `n_frames` frames, as faster-whisper's `pad_or_trim`."""
    if features.shape[1] >= n_frames:
        return np.ascontiguousarray(features[:, :n_frames])
    return np.pad(features, ((0, 0), (0, n_frames - features.shape[1])))


def _merge_windows(
    windows: list[_Window], text: str, *, used_fallback: bool, degenerate: bool, language: str
) -> Transcription:
    """One result for a long clip: token-weighted logprob; the clip has speech if any window has."""
    total_tokens = sum(len(w.tokens) + 1 for w in windows)
    avg_logprob = sum(w.avg_logprob * (len(w.tokens) + 1) for w in windows) / max(1, total_tokens)
    return Transcription(
        text=text,
        confidence=_confidence(avg_logprob) if text else 0.0,
        no_speech_prob=min((w.no_speech_prob for w in windows), default=1.0),
        avg_logprob=avg_logprob,
        num_tokens=sum(len(w.text_tokens) for w in windows),
        window_s=sum(w.window_s for w in windows),
        used_fallback=used_fallback,
        degenerate=degenerate,
        language=language,
    )
