"""Attention in the decoder graphs: the cross-attention cache, and the self- and cross-attention blocks.

Queries carry the whole attention scale (Whisper scales queries and keys by d_head**-0.25 each),
folded into their projection's dequantization scales; ONNX Runtime's fused `MultiHeadAttention`
then runs with `scale=1`.
"""

from __future__ import annotations

import numpy as np

from asr_service.engines._ct2_weights import ModelWeights
from asr_service.engines._onnx_graph._builder import GraphBuilder
from asr_service.engines._onnx_graph._weights import Dims

__all__ = ["build_cross_graph", "cross_attention", "self_attention"]


def _query_scale(dims: Dims) -> float:
    return float(dims.d_head**-0.5)


def build_cross_graph(weights: ModelWeights, dims: Dims) -> bytes:
    """The graph of each layer's cross-attention keys and values, once per window.

    Input `encoder` `[frames, d_model]`; outputs `cross_k_<i>` and `cross_v_<i>`, `[1, heads, frames, d_head]`.
    """
    from onnx import TensorProto, helper

    f32 = TensorProto.FLOAT
    heads, d_head, d_model = dims.heads, dims.d_head, dims.d_model
    cross = GraphBuilder("whisper_cross_cache")
    cross_outputs = []
    for i in range(dims.layers):
        kv = weights.float32(f"decoder/layer_{i}/attention/linear_1/weight")
        kv_bias = weights.float32(f"decoder/layer_{i}/attention/linear_1/bias")
        projected = cross.linear("encoder", kv, kv_bias, f"cross{i}_kv")
        halves = cross.const(np.array([d_model, d_model], dtype=np.int64), "split")
        keys, values = cross.op("Split", [projected, halves], "kv", outputs=2, axis=-1)
        split_heads = cross.shape([1, -1, heads, d_head])
        for name, half in ((f"cross_k_{i}", keys), (f"cross_v_{i}", values)):
            heads_first = cross.op("Transpose", [cross.op("Reshape", [half, split_heads], "kv")], "kvt",
                                   perm=[0, 2, 1, 3])
            cross.name_output(heads_first, name)
            cross_outputs.append(helper.make_tensor_value_info(name, f32, [1, heads, "frames", d_head]))
    return cross.model([helper.make_tensor_value_info("encoder", f32, ["frames", d_model])], cross_outputs)


def self_attention(step: GraphBuilder, x: str, weights: ModelWeights, dims: Dims, layer: int) -> str:
    """`x` plus layer `layer`'s self-attention over the cache and the new positions (causal `mask`).

    Reads the graph inputs `past_k_<layer>`, `past_v_<layer>` and `mask`; names the grown cache
    `present_k_<layer>` and `present_v_<layer>`.
    """
    scope = f"decoder/layer_{layer}/self_attention"
    d_model = dims.d_model
    h = step.layer_norm(x, weights, f"{scope}/layer_norm")
    qkv_weight = weights.float32(f"{scope}/linear_0/weight")
    qkv_bias = weights.float32(f"{scope}/linear_0/bias")
    # one product for queries, keys and values; the query rows carry the attention scale
    row_scale = np.ones(3 * d_model, dtype=np.float32)
    row_scale[:d_model] = _query_scale(dims)
    qkv = step.linear(h, qkv_weight, qkv_bias, "qkv", scale=row_scale)
    q, k, v = step.op("Split", [qkv, step.const(np.array([d_model] * 3, dtype=np.int64), "split")], "qkv",
                      outputs=3, axis=-1)
    # ONNX Runtime's fused attention appends k and v to the cache (heads first) and returns it
    context = step.op("MultiHeadAttention", [q, k, v, "", "", "mask", f"past_k_{layer}", f"past_v_{layer}"],
                      "self", domain="com.microsoft", outputs=3, num_heads=dims.heads, scale=1.0)
    step.name_output(context[1], f"present_k_{layer}")
    step.name_output(context[2], f"present_v_{layer}")
    out: str = step.op("Add", [x, step.linear(context[0], weights.float32(f"{scope}/linear_1/weight"),
                                              weights.float32(f"{scope}/linear_1/bias"), "out")], "res")
    return out


def cross_attention(step: GraphBuilder, x: str, weights: ModelWeights, dims: Dims, layer: int) -> str:
    """`x` plus layer `layer`'s attention over the window (the inputs `cross_k_<layer>`, `cross_v_<layer>`)."""
    scope = f"decoder/layer_{layer}/attention"
    h = step.layer_norm(x, weights, f"{scope}/layer_norm")
    q = step.linear(h, weights.float32(f"{scope}/linear_0/weight"),
                    weights.float32(f"{scope}/linear_0/bias"), "cq", scale=_query_scale(dims))
    context = step.op("MultiHeadAttention", [q, f"cross_k_{layer}", f"cross_v_{layer}"], "cross",
                      domain="com.microsoft", num_heads=dims.heads, scale=1.0)
    out: str = step.op("Add", [x, step.linear(context, weights.float32(f"{scope}/linear_2/weight"),
                                              weights.float32(f"{scope}/linear_2/bias"), "out")], "res")
    return out
