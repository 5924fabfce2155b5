"""The decoder step graph: embeddings plus positions, the decoder layers, and the tied output projection."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._ct2_weights import ModelWeights
from asr_service.engines._onnx_graph._attention import cross_attention, self_attention
from asr_service.engines._onnx_graph._builder import GraphBuilder
from asr_service.engines._onnx_graph._weights import Dims

__all__ = ["build_step_graph"]


def build_step_graph(
    weights: ModelWeights, dims: Dims, embedding_q: npt.NDArray[np.int8], embedding_scale: npt.NDArray[np.float32]
) -> bytes:
    """One decoder pass over `new` positions: their logits at `rows`, and each layer's grown cache.

    Inputs: `embedded` (the token embeddings, looked up outside the graph), `positions`, `mask`
    (additive causal mask), `rows`, and per layer `past_k/v_<i>` and `cross_k/v_<i>`; outputs:
    `logits`, then `present_k/v_<i>` per layer. `embedding_q` and `embedding_scale` are the int8
    rows of the embedding matrix (`quantize_rows`), the projection's weights.
    """
    from onnx import TensorProto, helper

    f32 = TensorProto.FLOAT
    heads, d_head, d_model = dims.heads, dims.d_head, dims.d_model
    cache_shape: list[str | int | None] = [1, heads, "past", d_head]
    step = GraphBuilder("whisper_decoder_step")
    inputs = [
        helper.make_tensor_value_info("embedded", f32, [1, "new", d_model]),
        helper.make_tensor_value_info("positions", TensorProto.INT64, ["new"]),
        helper.make_tensor_value_info("mask", f32, [1, 1, "new", "total"]),  # additive: 0 or -inf
        helper.make_tensor_value_info("rows", TensorProto.INT64, ["out"]),  # the new positions to score
    ]
    outputs: list[Any] = [helper.make_tensor_value_info("logits", f32, [1, "out", dims.vocab])]
    # token embeddings (the int8 rows of the tied projection below, looked up outside: see
    # `_EmbeddingRows` in `_onnx_model`) plus positions
    embedding_w = step.const(embedding_q.T, "emb_w")
    embedding_s = step.const(embedding_scale, "emb_scale")
    positions = step.const(weights.float32("decoder/position_encodings/encodings"), "positions")
    x = step.op("Add", ["embedded", step.op("Gather", [positions, "positions"], "pos", axis=0)], "x")
    for i in range(dims.layers):
        inputs += [
            helper.make_tensor_value_info(f"past_k_{i}", f32, cache_shape),
            helper.make_tensor_value_info(f"past_v_{i}", f32, cache_shape),
            helper.make_tensor_value_info(f"cross_k_{i}", f32, [1, heads, "frames", d_head]),
            helper.make_tensor_value_info(f"cross_v_{i}", f32, [1, heads, "frames", d_head]),
        ]
        x = self_attention(step, x, weights, dims, i)
        outputs += [
            helper.make_tensor_value_info(f"present_k_{i}", f32, [1, heads, "total", d_head]),
            helper.make_tensor_value_info(f"present_v_{i}", f32, [1, heads, "total", d_head]),
        ]
        x = cross_attention(step, x, weights, dims, i)
        x = _feed_forward(step, x, weights, i)
    h = step.op("Gather", [step.layer_norm(x, weights, "decoder/layer_norm"), "rows"], "scored", axis=1)
    # logits against the tied embeddings, with the very int8 rows the input embedding uses
    projection = step.op("DynamicQuantizeMatMul",
                         [h, embedding_w, embedding_s, step.const(np.zeros(dims.vocab, dtype=np.int8), "emb_zero")],
                         "logits", domain="com.microsoft")
    step.name_output(projection, "logits")
    return step.model(inputs, outputs)


def _feed_forward(step: GraphBuilder, x: str, weights: ModelWeights, layer: int) -> str:
    """`x` plus layer `layer`'s feed-forward block (GELU between two linears)."""
    scope = f"decoder/layer_{layer}/ffn"
    h = step.layer_norm(x, weights, f"{scope}/layer_norm")
    h = step.linear(h, weights.float32(f"{scope}/linear_0/weight"), weights.float32(f"{scope}/linear_0/bias"), "ffn0")
    h = step.op("Gelu", [h], "gelu", domain="com.microsoft")
    h = step.linear(h, weights.float32(f"{scope}/linear_1/weight"), weights.float32(f"{scope}/linear_1/bias"), "ffn1")
    out: str = step.op("Add", [x, h], "res")
    return out
