"""CTranslate2's encoder, and its decoder: `generate`, greedy or by beam search, on any device."""

from __future__ import annotations

from typing import Any

import ctranslate2
import numpy as np
import numpy.typing as npt

from asr_service.engines._decoder import DecodeResult
from asr_service.engines._decoding import DecodeOptions

__all__ = ["CTranslate2Decoder", "CTranslate2Encoder"]


class CTranslate2Encoder:
    """`Encoder` on a CTranslate2 Whisper model (its own thread pool; thread-safe)."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def encode(self, features: npt.NDArray[np.float32]) -> Any:
        """The model's encoder output, a CTranslate2 `StorageView` (what `generate` reads)."""
        model = self._model
        if model is None:
            raise RuntimeError("encoder: encode() called after close()")
        return model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[np.newaxis])))

    def close(self) -> None:
        """Drop the model (CTranslate2 frees it with its last reference)."""
        self._model = None


class CTranslate2Decoder:
    """`Decoder` on a CTranslate2 Whisper model's `generate` (the model's own thread pool; thread-safe).

    Also a `LanguageDetector` for a multilingual model (CTranslate2's `detect_language`)."""

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        self._model = model
        self._options = options

    def detect_language(self, encoder_output: Any) -> tuple[str, float]:
        """CTranslate2's detection (Whisper's: softmax over the language tokens at <|startoftranscript|>)
        on the encoder output, so the window is not encoded again."""
        token, probability = self._model.detect_language(encoder_output)[0][0]
        return str(token).removeprefix("<|").removesuffix("|>"), float(probability)

    def decode(self, encoder_output: Any, prompt: list[int], *, max_new_tokens: int, timestamps: bool) -> DecodeResult:
        """CTranslate2's decode. It reads `timestamps` from the prompt (<|notimestamps|> at its end)."""
        options = self._options
        output = self._model.generate(
            encoder_output,  # the encoder's output: generate() takes it in place of features
            [prompt],
            beam_size=options.beam_size,
            max_length=_ct2_max_length(len(prompt), max_new_tokens),
            return_scores=True,
            return_no_speech_prob=True,
            max_initial_timestamp_index=options.max_initial_timestamp_index,
            suppress_blank=options.suppress_blank,
            suppress_tokens=list(options.suppress_tokens),
        )[0]
        tokens: list[int] = list(output.sequences_ids[0])
        # CTranslate2 leaves EOT out of the sequence; only the cap stops it short. It returns the
        # cumulative logprob (EOT included) divided by the length without EOT (length_penalty=1);
        # faster-whisper recovers the sum the same way.
        return DecodeResult(
            tokens=tokens,
            sum_logprob=float(output.scores[0]) * len(tokens),
            ended=len(tokens) < max_new_tokens,
            no_speech_prob=float(output.no_speech_prob),
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
