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

__all__ = ["DecodeResult", "Decoder", "Encoder", "SpecialTokens"]


@dataclass(frozen=True, kw_only=True)
class SpecialTokens:
    """The ids of Whisper's special tokens in one model's vocabulary, looked up once at load time."""

    sot_sequence: tuple[int, ...]  # <|startoftranscript|>, then <|en|><|transcribe|> in a multilingual model
    sot_prev: int
    eot: int
    timestamp_begin: int
    no_speech: int  # <|nospeech|>, or <|nocaptions|> in the first models

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


class Encoder(Protocol):
    """Encodes one window. Thread-safe."""

    def encode(self, features: npt.NDArray[np.float32]) -> Any:
        """The encoder output `[1, frames / 2, d_model]` of log-mel `features` `[n_mels, frames]`."""
        ...

    def close(self) -> None:
        """Release the encoder; later calls to `encode` raise RuntimeError."""
        ...
