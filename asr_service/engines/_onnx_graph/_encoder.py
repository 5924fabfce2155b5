"""The encoder graph: Whisper's encoder of a CTranslate2 model on ONNX Runtime's int8 kernels.

The two convolutions in float, then each layer's linear products on `DynamicQuantizeMatMul` with
CTranslate2's per-row int8 weights (`GraphBuilder.linear`) and ONNX Runtime's fused
`MultiHeadAttention`. Measured against CTranslate2's encoder in `bench/bench_encoder.py`.
"""

from __future__ import annotations

import numpy as np

from asr_service.engines._ct2_weights import ModelWeights
from asr_service.engines._onnx_graph._builder import GraphBuilder

__all__ = ["build_encoder_graph"]


def build_encoder_graph(weights: ModelWeights) -> bytes:
    """Input `features` `[n_mels, frames]`; output `encoded` `[1, frames / 2, d_model]`."""
    from onnx import TensorProto, helper

    heads = int(np.asarray(weights.variables["encoder/num_heads"]).reshape(-1)[0])
    d_model = int(weights.variables["encoder/conv1/weight"].shape[0])
    n_mels = int(weights.variables["encoder/conv1/weight"].shape[1])
    layers = 0
    while f"encoder/layer_{layers}/ffn/linear_0/weight" in weights.variables:
        layers += 1
    g = GraphBuilder("whisper_encoder")

    def index(*values: int) -> str:
        return g.const(np.asarray(values, dtype=np.int64), "i")

    x = g.op("Unsqueeze", ["features", index(0)], "x")  # [1, n_mels, frames]
    for name, stride in (("conv1", 1), ("conv2", 2)):
        conv = g.op("Conv", [x, g.const(weights.float32(f"encoder/{name}/weight"), "w"),
                             g.const(weights.float32(f"encoder/{name}/bias"), "b")],
                    name, pads=[1, 1], strides=[stride], kernel_shape=[3])
        x = g.op("Gelu", [conv], "gelu", domain="com.microsoft")
    x = g.op("Transpose", [x], "t", perm=[0, 2, 1])  # [1, positions, d_model]
    positions = g.op("Gather", [g.op("Shape", [x], "shape"), index(1)], "n")
    encodings = g.const(weights.float32("encoder/position_encodings/encodings"), "pos")
    x = g.op("Add", [x, g.op("Slice", [encodings, index(0), positions, index(0)], "pos")], "x")
    query_scale = np.ones(3 * d_model, dtype=np.float32)
    query_scale[:d_model] = (d_model // heads) ** -0.5  # folded into the query rows, as the decoder graphs do
    for i in range(layers):
        scope = f"encoder/layer_{i}/self_attention"
        h = g.layer_norm(x, weights, f"{scope}/layer_norm")
        qkv = g.linear(h, weights.float32(f"{scope}/linear_0/weight"), weights.float32(f"{scope}/linear_0/bias"),
                       "qkv", scale=query_scale)
        q, k, v = g.op("Split", [qkv, index(d_model, d_model, d_model)], "qkv", outputs=3, axis=-1)
        context = g.op("MultiHeadAttention", [q, k, v], "attention", domain="com.microsoft", num_heads=heads,
                       scale=1.0)
        out = g.linear(context, weights.float32(f"{scope}/linear_1/weight"),
                       weights.float32(f"{scope}/linear_1/bias"), "out")
        x = g.op("Add", [x, out], "res")
        scope = f"encoder/layer_{i}/ffn"
        h = g.layer_norm(x, weights, f"{scope}/layer_norm")
        h = g.linear(h, weights.float32(f"{scope}/linear_0/weight"), weights.float32(f"{scope}/linear_0/bias"), "ffn0")
        h = g.op("Gelu", [h], "gelu", domain="com.microsoft")
        h = g.linear(h, weights.float32(f"{scope}/linear_1/weight"), weights.float32(f"{scope}/linear_1/bias"), "ffn1")
        x = g.op("Add", [x, h], "res")
    g.name_output(g.layer_norm(x, weights, "encoder/layer_norm"), "encoded")
    return g.model([helper.make_tensor_value_info("features", TensorProto.FLOAT, [n_mels, "frames"])],
                   [helper.make_tensor_value_info("encoded", TensorProto.FLOAT, [1, "positions", d_model])])
