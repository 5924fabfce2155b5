"""The decoder's shapes as its weights give them, and CTranslate2's int8 quantization of a weight.

The graphs must multiply by the very int8 values CTranslate2 computes, so that both decoders
read the same model; `quantize_rows` is that computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._ct2_weights import ModelWeights

__all__ = ["Dims", "decoder_dims", "quantize_rows"]

_QUANTIZE_BLOCK_ROWS = 4096


@dataclass(frozen=True, kw_only=True)
class Dims:
    """The decoder's shapes."""

    layers: int
    heads: int
    d_model: int
    vocab: int
    max_positions: int

    @property
    def d_head(self) -> int:
        return self.d_model // self.heads


def decoder_dims(weights: ModelWeights) -> Dims:
    """The shapes of the decoder in `weights` (ValueError when they do not fit together)."""
    variables = weights.variables
    layers = 0
    while f"decoder/layer_{layers}/ffn/linear_0/weight" in variables:
        layers += 1
    vocab, d_model = variables["decoder/embeddings/weight"].shape
    heads = int(np.asarray(variables["decoder/num_heads"]).reshape(-1)[0])
    positions = variables["decoder/position_encodings/encodings"].shape[0]
    if layers == 0 or d_model % heads:
        raise ValueError(f"model.bin: unexpected decoder shape ({layers} layers, d_model {d_model}, {heads} heads)")
    return Dims(layers=layers, heads=heads, d_model=int(d_model), vocab=int(vocab), max_positions=int(positions))


def quantize_rows(weight: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """CTranslate2's int8 weights: per row, `scale = 127 / max|row|`; returns (int8, 1 / scale).

    Takes float values (a model stored in int8 goes through `ModelWeights.float32` first). Works in
    blocks of rows, so the 51,864-row float16 embedding never exists as one float32 copy.
    """
    quantized = np.empty(weight.shape, dtype=np.int8)
    dequant = np.empty(weight.shape[0], dtype=np.float32)
    for first in range(0, weight.shape[0], _QUANTIZE_BLOCK_ROWS):
        block = np.asarray(weight[first : first + _QUANTIZE_BLOCK_ROWS], dtype=np.float32)
        amax = np.max(np.abs(block), axis=1)
        # an all-zero row (a padding token's embedding) keeps scale 1; dividing only where amax > 0 (np.where
        # would compute 127 / tiny for it too, which overflows float32 and warns)
        scale = np.divide(np.float32(127.0), amax, out=np.ones_like(amax), where=amax > 0).astype(np.float32)
        quantized[first : first + len(block)] = np.clip(np.rint(block * scale[:, np.newaxis]), -127, 127)
        dequant[first : first + len(block)] = 1.0 / scale
    return quantized, dequant
