"""Whisper on CTranslate2, with a short-window fast path and a full-window fallback.

The fast path (see `_decoding` for the measurements behind each rule):

1. pad the clip with zeros in the audio domain to the smallest bucket of (10, 15, 20, 30) s holding
   clip + 2 s, compute the log-mel for that window only, and encode it (a 10 s window costs about a
   fifth of the 30 s one on 2 cores);
2. decode greedily WITH timestamp tokens (Whisper's timestamp rules stay on), a token cap of
   7 tokens/s + 12, `suppress_blank`, and the model's non-speech symbols suppressed;
3. apply Whisper's silence rule (no-speech prob > 0.6 and avg logprob < -1 gives no text);
4. if the output looks degenerate (token cap hit, compression ratio > 2.4, a repeated span, or
   no text on a clip with energy while the model does not call it silence), decode again on the
   standard 30 s window and say so in `Transcription.used_fallback`.

Clips longer than 28 s are decoded as Whisper does: consecutive 30 s windows, each seeking to the
last complete segment's timestamp and prompted with the previous window's text.

Loading an engine limits numpy's BLAS to one thread in the process (see `_limit_numpy_blas_threads`).

Thread safety: the CTranslate2 model runs `num_workers` replicas (`inter_threads`) and releases the
GIL; calls beyond that queue inside CTranslate2. A clip alone in the engine encodes on a second,
one-replica encoder with `solo_threads` threads instead (a counter of the clips in `transcribe`
decides). Everything else here is read-only after loading.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from asr_service._malloc import release_free_memory
from asr_service.engines._ct2_weights import ModelWeights, encoder_only_model_bin, read_model_bin
from asr_service.engines._decoding import (
    FULL_WINDOW_S,
    TIMESTAMP_PRECISION_S,
    DecodeOptions,
    Degeneracy,
    check_degenerate,
    choose_window_s,
    max_new_tokens,
    split_at_last_segment,
)
from asr_service.engines._mel import HOP_LENGTH_SAMPLES, LogMel
from asr_service.engines._model_files import ModelFiles, resolve_model
from asr_service.engines._onnx_decoder import OnnxWhisperDecoder
from asr_service.engines.base import SAMPLE_RATE_HZ, EngineInfo, EngineOptions, Transcription

__all__ = ["CTranslate2WhisperEngine", "DecodeOptions"]

logger = logging.getLogger(__name__)

ENGINE_NAME = "ctranslate2-whisper"
DECODERS = ("ctranslate2", "onnxruntime")
_MODEL_MAX_LENGTH_TOKENS = 448  # Whisper's decoder context (prompt + generated)
_MAX_PROMPT_TOKENS = _MODEL_MAX_LENGTH_TOKENS // 2 - 1  # previous-text prompt, as Whisper
_SILENCE_DBFS = -120.0
_FULL_WINDOW_FRAMES = round(FULL_WINDOW_S * SAMPLE_RATE_HZ / HOP_LENGTH_SAMPLES)  # 3000


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


@dataclass(frozen=True, kw_only=True)
class _SpecialTokens:
    sot_sequence: list[int]
    sot_prev: int
    eot: int
    timestamp_begin: int
    no_speech: int  # <|nospeech|>, or <|nocaptions|> in the first models

    @property
    def no_timestamps(self) -> int:
        """<|notimestamps|>, the token just before the first timestamp."""
        return self.timestamp_begin - 1


def _limit_numpy_blas_threads() -> None:
    """numpy's BLAS (the mel filterbank product) on one thread, for the whole process.

    The engine's own pools already take every core. OpenBLAS sizes a third pool to the cores, and
    its threads spin for a while after each product, taking a core from the encoder or decoder:
    on the CI machine, p95 over the clips of 8 s or less went from 165.7 to 146.4 ms with the
    onnxruntime decoder when limited (same run, alternating clip by clip).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _load_ctranslate2(
    path: Path, options: EngineOptions, weights: ModelWeights | None, *, solo_threads: int
) -> tuple[Any, Any | None]:
    """The workers' CTranslate2 model, and an encoder on `solo_threads` threads for a clip alone.

    The workers' model is only an encoder when the decoder runs on onnxruntime. Encoders are loaded
    from a copy of the model cut to the encoder (see `_write_encoder_only`), which needs `weights`;
    no solo encoder when `solo_threads` is no more than the workers' threads.
    """

    def load(directory: Path, workers: int, threads: int) -> Any:
        return ctranslate2.models.Whisper(
            str(directory),
            device=options.device,
            compute_type=options.compute_type,
            inter_threads=workers,
            intra_threads=threads,
        )

    encoder_dir = path

    def load_encoder(workers: int, threads: int) -> Any:
        nonlocal encoder_dir
        if encoder_dir != path:
            try:
                return load(encoder_dir, workers, threads)
            except (RuntimeError, ValueError) as exc:  # a CTranslate2 that checks the decoder's shapes
                logger.warning("cannot load the encoder-only model (%s); loading the whole model", exc)
                encoder_dir = path
        return load(path, workers, threads)

    try:
        with tempfile.TemporaryDirectory(prefix="asr-encoder-") as directory:
            if weights is not None:
                _write_encoder_only(path, weights, Path(directory))
                encoder_dir = Path(directory)
            if options.decoder == "onnxruntime":
                model = load_encoder(options.num_workers, options.threads_per_worker)
            else:
                model = load(path, options.num_workers, options.threads_per_worker)
            solo = load_encoder(1, solo_threads) if solo_threads > options.threads_per_worker else None
            return model, solo
    except (RuntimeError, ValueError, OSError) as exc:
        raise ValueError(f"model: cannot load {str(path)!r} with {options}: {exc}") from exc


def _write_encoder_only(path: Path, weights: ModelWeights, directory: Path) -> None:
    """Copy the model directory for CTranslate2, with `model.bin` cut to what the encoder needs.

    With the onnxruntime decoder, CTranslate2 only encodes; its int8 copy of the decoder's
    vocabulary matrix (20 MB of RSS for tiny.en) would never be read. The copy goes through a file:
    CTranslate2 keeps the bytes of a model given in memory (`files=`) for the model's life.
    """
    (directory / "model.bin").write_bytes(encoder_only_model_bin(weights))
    for entry in path.iterdir():
        if entry.is_file() and entry.name not in ("model.bin", "tokenizer.json") and entry.suffix in (".json", ".txt"):
            shutil.copyfile(entry, directory / entry.name)


def _rms_dbfs(audio: npt.NDArray[np.float32]) -> float:
    if audio.size == 0:
        return _SILENCE_DBFS
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else _SILENCE_DBFS


class CTranslate2WhisperEngine:
    """A Whisper model (CTranslate2 format) behind the `Engine` protocol."""

    def __init__(self, options: EngineOptions, decode_options: DecodeOptions | None = None) -> None:
        _validate(options)
        self._options = options
        self._decode = decode_options or DecodeOptions()
        self._max_initial_timestamp_index = round(self._decode.max_initial_timestamp_s / TIMESTAMP_PRECISION_S)
        if options.decoder == "onnxruntime" and self._decode.beam_size != 1:
            beams = self._decode.beam_size
            raise ValueError(f"decoder: 'onnxruntime' is greedy only; beam_size must be 1, not {beams}")
        self._files: ModelFiles = resolve_model(options.model)
        path = self._files.path
        solo_threads = options.threads_when_alone
        self._onnx_decoder: OnnxWhisperDecoder | None = None
        weights: ModelWeights | None = None
        try:
            if options.decoder == "onnxruntime" or solo_threads > options.threads_per_worker:
                weights = read_model_bin(path / "model.bin")
            if options.decoder == "onnxruntime":
                self._onnx_decoder = OnnxWhisperDecoder(path, threads=solo_threads, weights=weights)
        except ValueError as exc:
            raise ValueError(f"decoder: cannot run {str(path)!r} on onnxruntime: {exc}") from exc
        self._model, self._solo_encoder = _load_ctranslate2(path, options, weights, solo_threads=solo_threads)
        del weights
        release_free_memory()
        _limit_numpy_blas_threads()
        self._active = 0  # clips in `transcribe` now
        self._active_lock = threading.Lock()
        self._tokenizer = Tokenizer.from_file(str(self._files.path / "tokenizer.json"))
        self._tokens = self._special_tokens()
        self._mel = LogMel(int(self._model.n_mels))
        self._info = self._make_info()
        logger.info(
            "loaded %s (%s) from %s: %d worker(s) x %d thread(s), %d for a clip alone",
            self._info.model_id, self._info.model_version, self._files.path, options.num_workers,
            options.threads_per_worker, solo_threads if self._solo_encoder is not None else options.threads_per_worker,
        )

    @property
    def info(self) -> EngineInfo:
        """Identity of the loaded model and decoding options."""
        return self._info

    @property
    def decode_options(self) -> DecodeOptions:
        """The decoding options in use."""
        return self._decode

    def close(self) -> None:
        """Release the model; later calls to `transcribe` raise RuntimeError."""
        self._model = None
        self._solo_encoder = None
        if self._onnx_decoder is not None:
            self._onnx_decoder.close()

    def transcribe(self, audio: npt.NDArray[np.float32]) -> Transcription:
        """Transcribe 16 kHz mono float32 audio in [-1, 1]. Thread-safe."""
        model = self._model
        if model is None:
            raise RuntimeError("engine: transcribe() called after close()")
        with self._active_lock:
            self._active += 1
        try:
            return self._transcribe(model, audio)
        finally:
            with self._active_lock:
                self._active -= 1

    def _encode(self, model: Any, batch: Any) -> Any:
        """The encoder output of `batch`: on every core when this clip is alone in the engine."""
        solo = self._solo_encoder
        alone = self._active == 1  # a plain read; the lock guards the updates
        return (solo if solo is not None and alone else model).encode(batch)

    def _transcribe(self, model: Any, audio: npt.NDArray[np.float32]) -> Transcription:
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"audio: expected 1-D mono samples, got shape {samples.shape}")
        duration_s = samples.shape[0] / SAMPLE_RATE_HZ
        if samples.shape[0] < HOP_LENGTH_SAMPLES:
            return _empty_result(window_s=0.0)
        if duration_s + self._decode.min_padding_s > FULL_WINDOW_S:
            return self._transcribe_long(model, samples)
        return self._transcribe_short(model, samples, duration_s)

    # -- one clip that fits in one window -------------------------------------------------------

    def _transcribe_short(self, model: Any, samples: npt.NDArray[np.float32], duration_s: float) -> Transcription:
        window_s = choose_window_s(duration_s, self._decode)
        energy_dbfs = _rms_dbfs(samples)
        result = self._decode_window(model, samples, window_s=window_s)
        if self._is_silence(result):
            return _empty_result(window_s=window_s, no_speech_prob=result.no_speech_prob,
                                 avg_logprob=result.avg_logprob)
        degeneracy = self._degeneracy(result, energy_dbfs)
        used_fallback = False
        if degeneracy and window_s < FULL_WINDOW_S and self._decode.fallback_to_full_window:
            logger.debug("fast path looked degenerate (%s): %r", ", ".join(degeneracy.reasons), result.text)
            used_fallback = True
            result = self._decode_window(model, samples, window_s=FULL_WINDOW_S)
            if self._is_silence(result):
                return _empty_result(window_s=window_s + FULL_WINDOW_S, no_speech_prob=result.no_speech_prob,
                                     avg_logprob=result.avg_logprob, used_fallback=True)
            degeneracy = self._degeneracy(result, energy_dbfs)
        return Transcription(
            text=result.text,
            confidence=_confidence(result.avg_logprob),
            no_speech_prob=result.no_speech_prob,
            avg_logprob=result.avg_logprob,
            num_tokens=len(result.text_tokens),
            window_s=window_s + (FULL_WINDOW_S if used_fallback else 0.0),
            used_fallback=used_fallback,
            degenerate=bool(degeneracy),
        )

    # -- clips longer than one window ------------------------------------------------------------

    def _transcribe_long(self, model: Any, samples: npt.NDArray[np.float32]) -> Transcription:
        """Consecutive 30 s windows over the clip's features, as faster-whisper's `transcribe`."""
        features = self._full_clip_features(samples)
        content_frames = features.shape[1]
        window_frames = _FULL_WINDOW_FRAMES
        seek = 0
        texts: list[str] = []
        previous: list[int] = []
        windows: list[_Window] = []
        used_fallback = degenerate = False
        while seek < content_frames:
            segment_frames = min(window_frames, content_frames - seek)
            segment = _pad_frames(features[:, seek : seek + segment_frames], window_frames)
            segment_s = segment_frames * HOP_LENGTH_SAMPLES / SAMPLE_RATE_HZ
            energy = _rms_dbfs(samples[seek * HOP_LENGTH_SAMPLES : (seek + segment_frames) * HOP_LENGTH_SAMPLES])
            result = self._decode_features(model, segment, audio_s=segment_s, previous=previous)
            looks_degenerate = not self._is_silence(result) and bool(self._degeneracy(result, energy))
            if looks_degenerate and previous:
                used_fallback = True  # as Whisper, drop the previous-text prompt when a window loops
                result = self._decode_features(model, segment, audio_s=segment_s)
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
        return _merge_windows(windows, "".join(texts).strip(), used_fallback=used_fallback, degenerate=degenerate)

    # -- roles -------------------------------------------------------------------------------------

    def _decode_window(self, model: Any, samples: npt.NDArray[np.float32], *, window_s: float) -> _Window:
        """Decode a clip that fits in one window of `window_s` seconds."""
        if window_s < FULL_WINDOW_S:
            # Fast path: zero-pad in the audio domain, so the padded frames sit at the log-mel floor.
            n_frames = round(window_s * SAMPLE_RATE_HZ / HOP_LENGTH_SAMPLES)
            features = self._mel(samples, n_frames=n_frames)
            timestamps = self._decode.fast_path_timestamps
        else:
            # The standard decode, as faster-whisper does it (our baseline): features of the clip,
            # zero-padded in the feature domain to 3000 frames.
            features = _pad_frames(self._full_clip_features(samples), _FULL_WINDOW_FRAMES)
            timestamps = True
        return self._decode_features(
            model, features, audio_s=samples.shape[0] / SAMPLE_RATE_HZ, timestamps=timestamps
        )

    def _full_clip_features(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """faster-whisper's features of a whole clip: 160 zeros appended, the last frame dropped."""
        padded = np.concatenate([samples, np.zeros(HOP_LENGTH_SAMPLES, dtype=np.float32)])
        return self._mel(padded)[:, :-1]

    def _decode_features(
        self,
        model: Any,
        features: npt.NDArray[np.float32],
        *,
        audio_s: float,
        previous: list[int] | None = None,
        timestamps: bool = True,
    ) -> _Window:
        """Decode one window of features greedily, with timestamps and a cap on the output length."""
        prompt = ([self._tokens.sot_prev, *previous] if previous else []) + self._tokens.sot_sequence
        if not timestamps:
            prompt = [*prompt, self._tokens.no_timestamps]
        cap = max_new_tokens(audio_s, self._decode, limit=_MODEL_MAX_LENGTH_TOKENS - len(prompt))
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[np.newaxis]))
        encoded = self._encode(model, batch)
        if self._onnx_decoder is None:
            tokens, sum_logprob, no_speech_prob, ended = self._generate(model, encoded, prompt, cap=cap)
        else:
            tokens, sum_logprob, no_speech_prob, ended = self._generate_on_onnx(
                self._onnx_decoder, encoded, prompt, cap=cap, timestamps=timestamps
            )
        text_tokens = [t for t in tokens if t < self._tokens.eot]
        scored = len(tokens) + (1 if ended else 0)  # end-of-text is scored too
        return _Window(
            tokens=tokens,
            text_tokens=text_tokens,
            text=self._tokenizer.decode(text_tokens).strip(),
            avg_logprob=sum_logprob / max(1, scored),
            no_speech_prob=no_speech_prob,
            hit_token_cap=not ended,  # both decoders stop short of the cap only at end-of-text
            window_s=features.shape[1] * HOP_LENGTH_SAMPLES / SAMPLE_RATE_HZ,
        )

    def _generate(
        self, model: Any, encoded: Any, prompt: list[int], *, cap: int
    ) -> tuple[list[int], float, float, bool]:
        """CTranslate2's decode: (tokens without EOT, summed logprob, no-speech prob, EOT reached)."""
        decode = self._decode
        output = model.generate(
            encoded,  # the encoder's output: generate() takes it in place of features
            [prompt],
            beam_size=decode.beam_size,
            max_length=_ct2_max_length(len(prompt), cap),
            return_scores=True,
            return_no_speech_prob=True,
            max_initial_timestamp_index=self._max_initial_timestamp_index,
            suppress_blank=decode.suppress_blank,
            suppress_tokens=list(decode.suppress_tokens),
        )[0]
        tokens: list[int] = list(output.sequences_ids[0])
        ended = len(tokens) < cap  # CTranslate2 leaves EOT out of the sequence; only the cap stops it short
        # CTranslate2 returns the cumulative logprob (EOT included) divided by the length without EOT
        # (length_penalty=1); faster-whisper recovers the per-token mean the same way.
        return tokens, float(output.scores[0]) * len(tokens), float(output.no_speech_prob), ended

    def _generate_on_onnx(
        self, decoder: OnnxWhisperDecoder, encoded: Any, prompt: list[int], *, cap: int, timestamps: bool
    ) -> tuple[list[int], float, float, bool]:
        """The same decode on onnxruntime's int8 kernels, over CTranslate2's encoder output."""
        decode = self._decode
        result = decoder.decode(
            np.asarray(encoded)[0],
            prompt,
            max_new_tokens=cap,
            sot=self._tokens.sot_sequence[0],
            eot=self._tokens.eot,
            no_timestamps=self._tokens.no_timestamps,
            no_speech=self._tokens.no_speech,
            timestamps=timestamps,
            suppress_tokens=list(decode.suppress_tokens),
            suppress_blank=decode.suppress_blank,
            max_initial_timestamp_index=self._max_initial_timestamp_index,
        )
        return result.tokens, result.sum_logprob, result.no_speech_prob, result.ended

    def _is_silence(self, result: _Window) -> bool:
        """Whisper's rule: the model says no speech and is unsure of what it wrote."""
        return (
            result.no_speech_prob > self._decode.no_speech_threshold
            and result.avg_logprob < self._decode.log_prob_threshold
        )

    def _degeneracy(self, result: _Window, clip_rms_dbfs: float) -> Degeneracy:
        return check_degenerate(
            text_tokens=result.text_tokens,
            text=result.text,
            hit_token_cap=result.hit_token_cap,
            no_speech_prob=result.no_speech_prob,
            clip_rms_dbfs=clip_rms_dbfs,
            options=self._decode,
        )

    def _special_tokens(self) -> _SpecialTokens:
        def token_id(token: str) -> int:
            value = self._tokenizer.token_to_id(token)
            if value is None:
                raise ValueError(f"model: tokenizer.json of {str(self._files.path)!r} has no {token} token")
            return int(value)

        sot = token_id("<|startoftranscript|>")
        # English-only models take no language or task token; multilingual ones transcribe English
        # (the service's language; language detection would cost a second decoder pass).
        sot_sequence = [sot, token_id("<|en|>"), token_id("<|transcribe|>")] if self._model.is_multilingual else [sot]
        return _SpecialTokens(
            sot_sequence=sot_sequence,
            sot_prev=token_id("<|startofprev|>"),
            eot=token_id("<|endoftext|>"),
            timestamp_begin=token_id("<|notimestamps|>") + 1,
            no_speech=token_id("<|nospeech|>" if self._tokenizer.token_to_id("<|nospeech|>") is not None
                               else "<|nocaptions|>"),
        )

    def _make_info(self) -> EngineInfo:
        name = self._files.name
        options_repr = repr(self._decode)
        return EngineInfo(
            model_id=name if "whisper" in name else f"whisper-{name}",
            # the decoder's kernels change the numbers, so they are part of the version
            model_version=f"{name}-ct2-{self._options.compute_type}"
            f"{'-ortdec' if self._onnx_decoder is not None else ''}+{self._files.fingerprint}",
            engine=ENGINE_NAME,
            config_hash=hashlib.sha256(options_repr.encode()).hexdigest()[:8],
        )


def _ct2_max_length(prompt_len: int, cap: int) -> int:
    """CTranslate2's `max_length` that lets `generate` produce exactly `cap` new tokens.

    CTranslate2's Whisper decodes at most `min(max_length // 2, max_length - start_step)` tokens,
    where `start_step` is the prompt length minus one when the prompt holds more than the
    start-of-transcript token, else 0 (`WhisperReplica::generate` in src/models/whisper.cc; Whisper's
    own `sample_len` is half the context). Passing `len(prompt) + cap` therefore capped the output at
    about half of `cap`.
    """
    start_step = prompt_len - 1 if prompt_len > 1 else 0
    return max(2 * cap, cap + start_step)


def _validate(options: EngineOptions) -> None:
    """What only this engine knows: its decoders, devices and compute types (`EngineOptions` checked the rest)."""
    if options.decoder not in DECODERS:
        raise ValueError(f"decoder: must be one of auto, {', '.join(DECODERS)}, got {options.decoder!r}")
    if options.device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device: must be 'cpu', 'cuda' or 'auto', got {options.device!r}")
    if options.device == "cpu":
        supported = sorted(ctranslate2.get_supported_compute_types("cpu"))
        if options.compute_type not in (*supported, "default", "auto"):
            raise ValueError(
                f"compute_type: {options.compute_type!r} is not supported on this CPU "
                f"(supported: {', '.join(supported)})"
            )


def _confidence(avg_logprob: float) -> float:
    """Geometric mean of the generated tokens' probabilities (EOT included), in [0, 1]."""
    return min(1.0, max(0.0, math.exp(avg_logprob)))


def _empty_result(
    *,
    window_s: float,
    no_speech_prob: float = 1.0,
    avg_logprob: float = 0.0,
    used_fallback: bool = False,
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
    )


def _pad_frames(features: npt.NDArray[np.float32], n_frames: int) -> npt.NDArray[np.float32]:
    """Zero-pad (or cut) features to `n_frames` frames, as faster-whisper's `pad_or_trim`."""
    if features.shape[1] >= n_frames:
        return np.ascontiguousarray(features[:, :n_frames])
    return np.pad(features, ((0, 0), (0, n_frames - features.shape[1])))


def _merge_windows(windows: list[_Window], text: str, *, used_fallback: bool, degenerate: bool) -> Transcription:
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
    )
