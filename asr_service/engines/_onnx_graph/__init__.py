"""The ONNX graphs of a CTranslate2 Whisper model, built for ONNX Runtime's int8 kernels.

Three graphs: the encoder (features -> the encoder output), the cross-attention cache (once per
window: the encoder output projected to each layer's keys and values) and the decoder step (new
positions -> logits and the grown self-attention cache). The parts, each a module:

- `_weights`: the decoder's shapes, read from the weights, and CTranslate2's int8 quantization;
- `_builder`: `GraphBuilder`, a few helpers over `onnx.helper` (int8 linear, layer norm);
- `_attention`: the cross-attention cache graph, and the self- and cross-attention blocks;
- `_layers`: the step graph: embeddings, the decoder layers, the tied output projection;
- `_encoder`: the encoder graph: the convolutions, positions and the encoder layers.
"""

from __future__ import annotations

from asr_service.engines._onnx_graph._attention import build_cross_graph
from asr_service.engines._onnx_graph._encoder import build_encoder_graph
from asr_service.engines._onnx_graph._layers import build_step_graph
from asr_service.engines._onnx_graph._weights import Dims, decoder_dims, quantize_rows

__all__ = ["Dims", "build_cross_graph", "build_encoder_graph", "build_step_graph", "decoder_dims", "quantize_rows"]
