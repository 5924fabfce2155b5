"""`GraphBuilder`: a few helpers over `onnx.helper`, so that the graphs read like the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._ct2_weights import ModelWeights
from asr_service.engines._onnx_graph._weights import quantize_rows

__all__ = ["GraphBuilder"]

_LAYER_NORM_EPSILON = 1e-5


class GraphBuilder:
    """The nodes and initializers of one graph, with fresh names for every value."""

    def __init__(self, name: str) -> None:
        from onnx import helper

        self.helper = helper
        self.name = name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: npt.NDArray[Any], hint: str) -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, *, domain: str = "", outputs: int = 1,
           **attributes: Any) -> Any:
        names = [self.fresh(hint) for _ in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, inputs, names, domain=domain or None, **attributes))
        return names[0] if outputs == 1 else names

    def name_output(self, value: str, name: str) -> None:
        """Expose `value` as the graph output (or input of another graph) called `name`."""
        self.nodes.append(self.helper.make_node("Identity", [value], [name]))

    def linear(self, x: str, weight: npt.NDArray[np.float32], bias: npt.NDArray[np.float32] | None, hint: str,
               *, scale: float | npt.NDArray[np.float32] = 1.0) -> str:
        """`(x @ weight.T + bias) * scale` with int8 weights (per output row), dynamically quantized `x`.

        `scale` (per output row) goes into the dequantization scales, so the int8 values are the
        ones CTranslate2 computes for `weight`.
        """
        quantized, dequant = quantize_rows(weight)
        inputs = [
            x,
            self.const(quantized.T, f"{hint}_w"),
            self.const((dequant * scale).astype(np.float32), f"{hint}_scale"),
            self.const(np.zeros(quantized.shape[0], dtype=np.int8), f"{hint}_zero"),
        ]
        if bias is not None:
            inputs.append(self.const((bias * scale).astype(np.float32), f"{hint}_bias"))
        output: str = self.op("DynamicQuantizeMatMul", inputs, hint, domain="com.microsoft")
        return output

    def layer_norm(self, x: str, weights: ModelWeights, scope: str) -> str:
        gamma = self.const(weights.float32(f"{scope}/gamma"), "gamma")
        beta = self.const(weights.float32(f"{scope}/beta"), "beta")
        output: str = self.op("LayerNormalization", [x, gamma, beta], "ln", axis=-1, epsilon=_LAYER_NORM_EPSILON)
        return output

    def shape(self, values: list[int]) -> str:
        return self.const(np.asarray(values, dtype=np.int64), "shape")

    def model(self, inputs: list[Any], outputs: list[Any]) -> bytes:
        """The serialized model of the graph so far, with `inputs` and `outputs` (value infos)."""
        helper = self.helper
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        )
        model.ir_version = 8
        serialized: bytes = model.SerializeToString()
        return serialized
