"""The encoder and decoder protocols: what the CTranslate2 Whisper engine's parts take and return.

An encoder turns one window's log-mel features into the encoder output its decoder reads:
`CTranslate2Encoder` (`_ct2_decoder`) or `OnnxWhisperEncoder` (`_onnx_model`).

A decoder turns one window's encoder output and a prompt into tokens, greedily or by beam search:
`CTranslate2Decoder` (`_ct2_decoder`, CTranslate2's own `generate`) or `OnnxWhisperDecoder`
(`_onnx_decoder`, onnxruntime's int8 kernels). Each binds at load time what does not change
between calls: the model's `SpecialTokens` and the decoding options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["DecodeResult", "Decoder", "Encoder", "LanguageDetector", "SpecialTokens"]


@dataclass(frozen=True, kw_only=True)
class SpecialTokens:
    """The ids of Whisper's special tokens in one model's vocabulary, looked up once at load time."""

    sot_sequence: tuple[int, ...]  # <|startoftranscript|>, then <|en|><|transcribe|> in a multilingual model
    sot_prev: int
    eot: int
    timestamp_begin: int
    no_speech: int  # <|nospeech|>, or <|nocaptions|> in the first models
    # A multilingual model's language tokens, in Whisper's order ("en" first): (code, id) pairs;
    # empty for an English-only model.
    language_tokens: tuple[tuple[str, int], ...] = ()
    transcribe: int | None = None  # <|transcribe|>, in a multilingual model

    @property
    def languages(self) -> tuple[str, ...]:
        """The codes of the languages the model transcribes: ("en",) for an English-only model."""
        return tuple(code for code, _ in self.language_tokens) or ("en",)

    def sot_sequence_for(self, language: str) -> tuple[int, ...]:
        """The start of the prompt that transcribes `language` (one of `languages`; ValueError otherwise)."""
        if not self.language_tokens or self.transcribe is None:
            if language != "en":
                raise ValueError(f"language: {language!r} is not one the model transcribes (only 'en')")
            return self.sot_sequence
        for code, token in self.language_tokens:
            if code == language:
                return (self.sot, token, self.transcribe)
        raise ValueError(f"language: {language!r} is not one of the model's {len(self.language_tokens)} languages")

    @property
    def sot(self) -> int:
        """<|startoftranscript|>."""
        return self.sot_sequence[0]

    @property
    def no_timestamps(self) -> int:
        """<|notimestamps|>, the token just before the first timestamp."""
        return self.timestamp_begin - 1


@dataclass(frozen=True, kw_only=True)
class DecodeResult:
    """One decode: generated ids (end-of-text excluded) and their summed log-probability."""

    tokens: list[int]
    sum_logprob: float  # end-of-text's log-probability included when it was generated
    ended: bool  # end-of-text was generated (not stopped by the cap)
    no_speech_prob: float  # at <|startoftranscript|>


class Decoder(Protocol):
    """Decodes one window after a prompt. Thread-safe."""

    def decode(self, encoder_output: Any, prompt: list[int], *, max_new_tokens: int, timestamps: bool) -> DecodeResult:
        """Decode at most `max_new_tokens` tokens after `prompt` over one window's encoder output.

        `encoder_output` is the encoder's `[1, frames, d_model]`; `timestamps` is False when the
        prompt ends with <|notimestamps|>.
        """
        ...


class LanguageDetector(Protocol):
    """Detects the language of one window from its encoder output (multilingual models). Thread-safe."""

    def detect_language(self, encoder_output: Any) -> tuple[str, float]:
        """Whisper's detection: one decoder step after <|startoftranscript|>, softmax over the language
        tokens only; the most probable language's code and its probability."""
        ...


class Encoder(Protocol):
    """Encodes one window. Thread-safe."""

    def encode(self, features: npt.NDArray[np.float32]) -> Any:
        """The encoder output `[1, frames / 2, d_model]` of log-mel `features` `[n_mels, frames]`."""
        ...

    def close(self) -> None:
        """Release the encoder; later calls to `encode` raise RuntimeError."""
        ...
