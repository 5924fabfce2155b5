"""Whisper's greedy decoder on ONNX Runtime's int8 kernels, with a CTranslate2 model's weights.

Why: on the CI machine (AMD EPYC, AVX-512 VNNI) CTranslate2 runs its int8 matrix products through
oneDNN's BLAS-like `gemm_u8s8s32`, which for one decoder step (a matrix-vector product) moves about
9 GB/s: the 384 x 51,864 output projection of tiny.en takes 2.1 ms a step, against 0.48 ms for the
same int8 product in ONNX Runtime's MLAS kernels (`bench/bench_engine.py --decoders` shows the
effect end to end). The encoder stays on CTranslate2, where the work is large matrix products.

What it computes: the decoder of the CTranslate2 model, with its weights quantized to int8 per
output row as CTranslate2 does (`scale = 127 / max|row|`); activations are quantized per call by
ONNX Runtime (`DynamicQuantizeMatMul`, asymmetric uint8) where CTranslate2 uses symmetric int8, so
logits differ in the last digits and, rarely, a near tie goes the other way. The decoding rules are
CTranslate2's `WhisperReplica::generate` (src/models/whisper.cc), step for step:

- `suppress_tokens` at every step, `suppress_blank` (the blank and end-of-text) at the first;
- with timestamps: `<|notimestamps|>` never; the first token a timestamp at most
  `max_initial_timestamp_index`; timestamps in pairs except before end-of-text; never a timestamp
  smaller than the last one; and a timestamp whenever the timestamps' total probability beats
  every other token's;
- greedy choice; the score is the sum of the chosen tokens' log-probabilities under those rules
  (end-of-text included); the no-speech probability is the softmax of the raw logits at
  `<|startoftranscript|>`.
"""

from __future__ import annotations

import functools
import json
import math
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._ct2_weights import ModelWeights, decode_values, read_model_bin

__all__ = ["DecodeResult", "OnnxWhisperDecoder"]

_LAYER_NORM_EPSILON = 1e-5
_NEG_INF = np.float32(-np.inf)
_QUANTIZE_BLOCK_ROWS = 4096
_EMBEDDING_CACHE_ROWS = 1024


@dataclass(frozen=True, kw_only=True)
class DecodeResult:
    """One greedy decode: generated ids (end-of-text excluded) and their summed log-probability."""

    tokens: list[int]
    sum_logprob: float  # end-of-text's log-probability included when it was generated
    ended: bool  # end-of-text was generated (not stopped by the cap)
    no_speech_prob: float


@dataclass(frozen=True, kw_only=True)
class _Dims:
    layers: int
    heads: int
    d_model: int
    vocab: int
    max_positions: int

    @property
    def d_head(self) -> int:
        return self.d_model // self.heads


class OnnxWhisperDecoder:
    """The decoder of a CTranslate2 Whisper model, run one token at a time on ONNX Runtime.

    Thread-safe: `decode` keeps its state on the stack and ONNX Runtime sessions may be run from
    several threads at once.
    """

    def __init__(self, model_dir: Path, *, threads: int = 1, weights: ModelWeights | None = None) -> None:
        """Build the decoder of the model in `model_dir` (`weights`: its `model.bin`, already read)."""
        import onnxruntime as ort

        if weights is None:
            weights = read_model_bin(model_dir / "model.bin")
        if weights.spec != "WhisperSpec":
            raise ValueError(f"model: {model_dir} holds a {weights.spec}, not a Whisper model")
        config = json.loads((model_dir / "config.json").read_text())
        self._dims = _dims(weights)
        self._default_suppress = [int(i) for i in config.get("suppress_ids", [])]
        self._blank_suppress = [int(i) for i in config.get("suppress_ids_begin", [])]
        embedding = weights.variables["decoder/embeddings/weight"]
        if weights.scale("decoder/embeddings/weight") is not None:  # stored quantized: its float values first
            embedding = weights.float32("decoder/embeddings/weight")
        embedding_q, embedding_scale = _quantize_rows(embedding)
        self._embedding = _EmbeddingRows(model_dir / "model.bin", weights, "decoder/embeddings/weight")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Shapes change every step (the cache grows): an arena would keep a block for each size it
        # met (the server grew by 160 MB over a benchmark run); plain malloc gives them back.
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        providers = ["CPUExecutionProvider"]
        step, cross = _build_graphs(weights, self._dims, embedding_q, embedding_scale)
        del weights, embedding_q, embedding_scale
        self._step = ort.InferenceSession(step, options, providers=providers)
        self._cross = ort.InferenceSession(cross, options, providers=providers)
        del step, cross  # ~200 MB of short-lived buffers with the model file: the caller releases them
        self._empty_cache = np.zeros((1, self._dims.heads, 0, self._dims.d_head), dtype=np.float32)
        # the step graph's inputs, in the order of its outputs after the logits
        self._cache_names = [f"past_{kind}_{i}" for i in range(self._dims.layers) for kind in ("k", "v")]
        self._last_row = np.zeros(1, dtype=np.int64)

    def close(self) -> None:
        """Release the sessions and close the model file; later decodes raise RuntimeError."""
        self._embedding.close()
        self._step = self._cross = None

    def decode(
        self,
        encoder_output: npt.NDArray[np.float32],
        prompt: list[int],
        *,
        max_new_tokens: int,
        sot: int,
        eot: int,
        no_timestamps: int,
        no_speech: int,
        timestamps: bool,
        suppress_tokens: list[int],
        suppress_blank: bool,
        max_initial_timestamp_index: int,
    ) -> DecodeResult:
        """Greedy decoding after `prompt` over one window's encoder output `[frames, d_model]`."""
        dims = self._dims
        if self._step is None or self._cross is None:
            raise RuntimeError("decoder: decode() called after close()")
        if len(prompt) + max_new_tokens > dims.max_positions:
            raise ValueError(f"prompt + max_new_tokens: more than the decoder's {dims.max_positions} positions")
        cross = self._cross.run(None, {"encoder": np.ascontiguousarray(encoder_output, dtype=np.float32)})
        cross_feeds = {f"cross_k_{i}": cross[2 * i] for i in range(dims.layers)}
        cross_feeds |= {f"cross_v_{i}": cross[2 * i + 1] for i in range(dims.layers)}
        cache = dict.fromkeys(self._cache_names, self._empty_cache)
        suppressed = {i for i in _expand_suppress(suppress_tokens, self._default_suppress) if 0 <= i < dims.vocab}
        if timestamps:
            suppressed.add(no_timestamps)
        rules = _Rules(
            suppressed=np.array(sorted(suppressed), dtype=np.int64),
            blank=self._blank_suppress if suppress_blank else [], eot=eot,
            timestamp_begin=no_timestamps + 1 if timestamps else None,
            max_initial_index=max_initial_timestamp_index,
        )

        # the prompt: logits only where they are read, at <|startoftranscript|> and at the end
        rows = np.array([prompt.index(sot), len(prompt) - 1], dtype=np.int64)
        logits, cache = self._forward(prompt, 0, cache, cross_feeds, rows)
        no_speech_prob = math.exp(float(logits[0, no_speech]) - _logsumexp(logits[0]))
        last = logits[1]
        tokens: list[int] = []
        sum_logprob = 0.0
        ended = False
        while len(tokens) < max_new_tokens:
            masked = rules.apply(last, tokens)
            token = int(np.argmax(masked))
            sum_logprob += float(masked[token] - _logsumexp(masked))
            if token == eot:
                ended = True
                break
            tokens.append(token)
            if len(tokens) < max_new_tokens:
                logits, cache = self._forward([token], len(prompt) + len(tokens) - 1, cache, cross_feeds,
                                              self._last_row)
                last = logits[0]
        return DecodeResult(tokens=tokens, sum_logprob=sum_logprob, ended=ended, no_speech_prob=no_speech_prob)

    def _forward(
        self, ids: list[int], start: int, cache: dict[str, Any], cross: dict[str, Any], rows: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Run `ids` at positions `start...`: the logits of the new positions `rows`, and the grown cache."""
        total = start + len(ids)
        # causal: new position p (absolute start + p) sees the cache and the new positions up to p
        columns = np.arange(total)[np.newaxis, :]
        rows_at = start + np.arange(len(ids))[:, np.newaxis]
        mask = np.where(columns > rows_at, _NEG_INF, np.float32(0.0)).astype(np.float32)[np.newaxis, np.newaxis]
        feeds = {"embedded": self._embedding.rows(ids)[np.newaxis], "mask": mask,
                 "positions": np.arange(start, total, dtype=np.int64), "rows": rows}
        outputs = self._step.run(None, {**feeds, **cache, **cross})
        return outputs[0][0], dict(zip(self._cache_names, outputs[1:], strict=True))


@dataclass(frozen=True, kw_only=True)
class _Rules:
    """The logit masks of one decode (CTranslate2's, see the module docstring)."""

    suppressed: npt.NDArray[np.int64]  # token ids
    blank: list[int]
    eot: int
    timestamp_begin: int | None  # None: decoding without timestamps
    max_initial_index: int

    def apply(self, logits: npt.NDArray[np.float32], tokens: list[int]) -> npt.NDArray[np.float32]:
        """The logits of the next token after `tokens`, with every rule applied, in place."""
        masked = logits
        masked[self.suppressed] = _NEG_INF
        step = len(tokens)
        if step == 0 and self.blank:
            masked[self.blank] = _NEG_INF
        if self.timestamp_begin is not None:
            _apply_timestamp_rules(masked, tokens, step, eot=self.eot, timestamp_begin=self.timestamp_begin,
                                   max_initial_index=self.max_initial_index)
        return masked


class _EmbeddingRows:
    """Token embeddings read from `model.bin` a row at a time, as the int8 rows of the projection.

    The projection's int8 matrix lives in ONNX Runtime's packed form only (it frees its own copy
    after packing); a second copy for the lookup would cost 20 MB for tiny.en, so the few rows a
    decode needs are read from the file (the page cache) and quantized exactly as the full matrix.
    """

    def __init__(self, path: Path, weights: ModelWeights, name: str) -> None:
        if name not in weights.locations:
            raise ValueError(f"model.bin: no file location for {name}")
        value = weights.variables[name]
        offset, type_id, num_bytes = weights.locations[name]
        vocab = int(value.shape[0])
        row_bytes = num_bytes // vocab
        scale = weights.scale(name)  # per row (int8), one for all (int16), or None (floats)
        fd = os.open(path, os.O_RDONLY)  # kept open: a model replaced on disk stays readable
        self._close = weakref.finalize(self, os.close, fd)

        def read_row(token: int) -> npt.NDArray[np.float32]:
            if not 0 <= token < vocab:
                raise ValueError(f"token id {token} outside the vocabulary of {vocab}")
            data = os.pread(fd, row_bytes, offset + token * row_bytes)
            if len(data) != row_bytes:
                raise ValueError("model.bin: the file changed on disk since the model was loaded")
            raw = np.asarray(decode_values(data, type_id), dtype=np.float32)[np.newaxis]
            if scale is not None:
                raw = raw / scale[token if scale.size > 1 else 0]
            quantized, dequant = _quantize_rows(raw)
            row: npt.NDArray[np.float32] = quantized[0].astype(np.float32) * dequant[0]
            row.flags.writeable = False  # shared by every decode through the cache
            return row

        # the rows of the tokens met lately (1.5 KB each for tiny.en; common words cover most text);
        # a closure, not a method, so that the cache holds no reference back to this object
        self._row = functools.lru_cache(maxsize=_EMBEDDING_CACHE_ROWS)(read_row)

    def rows(self, ids: list[int]) -> npt.NDArray[np.float32]:
        """`[len(ids), d_model]` float32: CTranslate2's int8 values of each row, dequantized."""
        if len(ids) == 1:
            return self._row(ids[0])[np.newaxis]
        return np.stack([self._row(token) for token in ids])

    def close(self) -> None:
        """Close the model file (idempotent); later reads fail."""
        self._close()
        self._row.cache_clear()


def _expand_suppress(suppress_tokens: list[int], default: list[int]) -> list[int]:
    """CTranslate2's reading: -1 stands for the model's default set of non-speech symbols."""
    expanded: list[int] = []
    for token in suppress_tokens:
        expanded.extend(default if token == -1 else [token] if token >= 0 else [])
    return expanded


def _apply_timestamp_rules(
    logits: npt.NDArray[np.float32], tokens: list[int], step: int, *, eot: int, timestamp_begin: int,
    max_initial_index: int,
) -> None:
    """CTranslate2's ApplyTimestampRules for one sequence, in place."""
    if step == 0:
        logits[:timestamp_begin] = _NEG_INF
        logits[timestamp_begin + max_initial_index + 1 :] = _NEG_INF
        return
    check_probability = True
    last = tokens[-1]
    if last >= timestamp_begin:
        penultimate = tokens[-2] if step > 1 else last
        if penultimate >= timestamp_begin:  # a closed pair: text (or end-of-text) next
            logits[timestamp_begin:] = _NEG_INF
            check_probability = False
        else:  # an opened segment's end: no text next
            logits[:eot] = _NEG_INF
    for token in reversed(tokens):
        if token >= timestamp_begin:  # timestamps do not decrease
            logits[timestamp_begin:token] = _NEG_INF
            break
    if check_probability:
        timestamp_mass = _logsumexp(logits[timestamp_begin:])
        if timestamp_mass > float(np.max(logits[:timestamp_begin])):
            logits[:timestamp_begin] = _NEG_INF


def _logsumexp(values: npt.NDArray[np.float32]) -> float:
    """log(sum(exp(values))) in float32, as CTranslate2's log-softmax (numpy's float32 exp is SIMD)."""
    top = values.max()
    if top == -np.inf:
        return float(top)
    shifted = values - top
    np.exp(shifted, out=shifted)
    return float(top) + float(np.log(shifted.sum(dtype=np.float32)))


def _quantize_rows(weight: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """CTranslate2's int8 weights: per row, `scale = 127 / max|row|`; returns (int8, 1 / scale).

    Takes float values (a model stored in int8 goes through `ModelWeights.float32` first). Works in
    blocks of rows, so the 51,864-row float16 embedding never exists as one float32 copy.
    """
    quantized = np.empty(weight.shape, dtype=np.int8)
    dequant = np.empty(weight.shape[0], dtype=np.float32)
    for first in range(0, weight.shape[0], _QUANTIZE_BLOCK_ROWS):
        block = np.asarray(weight[first : first + _QUANTIZE_BLOCK_ROWS], dtype=np.float32)
        amax = np.max(np.abs(block), axis=1)
        scale = np.where(amax > 0, 127.0 / np.maximum(amax, np.finfo(np.float32).tiny), 1.0).astype(np.float32)
        quantized[first : first + len(block)] = np.clip(np.rint(block * scale[:, np.newaxis]), -127, 127)
        dequant[first : first + len(block)] = 1.0 / scale
    return quantized, dequant


def _dims(weights: ModelWeights) -> _Dims:
    variables = weights.variables
    layers = 0
    while f"decoder/layer_{layers}/ffn/linear_0/weight" in variables:
        layers += 1
    vocab, d_model = variables["decoder/embeddings/weight"].shape
    heads = int(np.asarray(variables["decoder/num_heads"]).reshape(-1)[0])
    positions = variables["decoder/position_encodings/encodings"].shape[0]
    if layers == 0 or d_model % heads:
        raise ValueError(f"model.bin: unexpected decoder shape ({layers} layers, d_model {d_model}, {heads} heads)")
    return _Dims(layers=layers, heads=heads, d_model=int(d_model), vocab=int(vocab), max_positions=int(positions))


# -- the ONNX graphs ---------------------------------------------------------------------------------


class _GraphBuilder:
    """A few helpers over onnx.helper, so the graphs below read like the model."""

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

    def linear(self, x: str, weight: npt.NDArray[np.float32], bias: npt.NDArray[np.float32] | None, hint: str,
               *, scale: float | npt.NDArray[np.float32] = 1.0) -> str:
        """`(x @ weight.T + bias) * scale` with int8 weights (per output row), dynamically quantized `x`.

        `scale` (per output row) goes into the dequantization scales, so the int8 values are the
        ones CTranslate2 computes for `weight`.
        """
        quantized, dequant = _quantize_rows(weight)
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
        helper = self.helper
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
        )
        model.ir_version = 8
        serialized: bytes = model.SerializeToString()
        return serialized


def _build_graphs(
    weights: ModelWeights, dims: _Dims, embedding_q: npt.NDArray[np.int8], embedding_scale: npt.NDArray[np.float32]
) -> tuple[bytes, bytes]:
    """The decoder step graph (new positions -> logits and grown cache) and the cross-attention cache."""
    from onnx import TensorProto, helper

    f32 = TensorProto.FLOAT
    heads, d_head, d_model = dims.heads, dims.d_head, dims.d_model
    query_scale = d_head**-0.5  # Whisper scales queries and keys by d_head**-0.25 each

    # cross-attention keys and values, once per window, as [1, heads, frames, d_head]
    cross = _GraphBuilder("whisper_cross_cache")
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
            cross.nodes.append(helper.make_node("Identity", [heads_first], [name]))
            cross_outputs.append(helper.make_tensor_value_info(name, f32, [1, heads, "frames", d_head]))
    cross_graph = cross.model([helper.make_tensor_value_info("encoder", f32, ["frames", d_model])], cross_outputs)
    cache_shape: list[str | int | None] = [1, heads, "past", d_head]

    # one decoder pass over `new` positions
    step = _GraphBuilder("whisper_decoder_step")
    inputs = [
        helper.make_tensor_value_info("embedded", f32, [1, "new", d_model]),
        helper.make_tensor_value_info("positions", TensorProto.INT64, ["new"]),
        helper.make_tensor_value_info("mask", f32, [1, 1, "new", "total"]),  # additive: 0 or -inf
        helper.make_tensor_value_info("rows", TensorProto.INT64, ["out"]),  # the new positions to score
    ]
    outputs = [helper.make_tensor_value_info("logits", f32, [1, "out", dims.vocab])]
    # token embeddings (the int8 rows of the tied projection below, looked up outside: see
    # `_EmbeddingRows`) plus positions
    embedding_w = step.const(embedding_q.T, "emb_w")
    embedding_s = step.const(embedding_scale, "emb_scale")
    positions = step.const(weights.float32("decoder/position_encodings/encodings"), "positions")
    x = step.op("Add", ["embedded", step.op("Gather", [positions, "positions"], "pos", axis=0)], "x")
    for i in range(dims.layers):
        scope = f"decoder/layer_{i}"
        inputs += [
            helper.make_tensor_value_info(f"past_k_{i}", f32, cache_shape),
            helper.make_tensor_value_info(f"past_v_{i}", f32, cache_shape),
            helper.make_tensor_value_info(f"cross_k_{i}", f32, [1, heads, "frames", d_head]),
            helper.make_tensor_value_info(f"cross_v_{i}", f32, [1, heads, "frames", d_head]),
        ]
        # self-attention over the cache and the new positions
        h = step.layer_norm(x, weights, f"{scope}/self_attention/layer_norm")
        qkv_weight = weights.float32(f"{scope}/self_attention/linear_0/weight")
        qkv_bias = weights.float32(f"{scope}/self_attention/linear_0/bias")
        # one product for queries, keys and values; the query rows carry the attention scale
        row_scale = np.ones(3 * d_model, dtype=np.float32)
        row_scale[:d_model] = query_scale
        qkv = step.linear(h, qkv_weight, qkv_bias, "qkv", scale=row_scale)
        q, k, v = step.op("Split", [qkv, step.const(np.array([d_model] * 3, dtype=np.int64), "split")], "qkv",
                          outputs=3, axis=-1)
        # ONNX Runtime's fused attention appends k and v to the cache (heads first) and returns it
        context = step.op("MultiHeadAttention", [q, k, v, "", "", "mask", f"past_k_{i}", f"past_v_{i}"], "self",
                          domain="com.microsoft", outputs=3, num_heads=heads, scale=1.0)
        step.nodes.append(helper.make_node("Identity", [context[1]], [f"present_k_{i}"]))
        step.nodes.append(helper.make_node("Identity", [context[2]], [f"present_v_{i}"]))
        outputs += [
            helper.make_tensor_value_info(f"present_k_{i}", f32, [1, heads, "total", d_head]),
            helper.make_tensor_value_info(f"present_v_{i}", f32, [1, heads, "total", d_head]),
        ]
        x = step.op("Add", [x, step.linear(context[0], weights.float32(f"{scope}/self_attention/linear_1/weight"),
                                           weights.float32(f"{scope}/self_attention/linear_1/bias"), "out")], "res")
        # cross-attention over the window
        h = step.layer_norm(x, weights, f"{scope}/attention/layer_norm")
        q = step.linear(h, weights.float32(f"{scope}/attention/linear_0/weight"),
                        weights.float32(f"{scope}/attention/linear_0/bias"), "cq", scale=query_scale)
        context = step.op("MultiHeadAttention", [q, f"cross_k_{i}", f"cross_v_{i}"], "cross",
                          domain="com.microsoft", num_heads=heads, scale=1.0)
        x = step.op("Add", [x, step.linear(context, weights.float32(f"{scope}/attention/linear_2/weight"),
                                           weights.float32(f"{scope}/attention/linear_2/bias"), "out")], "res")
        # feed-forward
        h = step.layer_norm(x, weights, f"{scope}/ffn/layer_norm")
        h = step.linear(h, weights.float32(f"{scope}/ffn/linear_0/weight"),
                        weights.float32(f"{scope}/ffn/linear_0/bias"), "ffn0")
        h = step.op("Gelu", [h], "gelu", domain="com.microsoft")
        h = step.linear(h, weights.float32(f"{scope}/ffn/linear_1/weight"),
                        weights.float32(f"{scope}/ffn/linear_1/bias"), "ffn1")
        x = step.op("Add", [x, h], "res")
    h = step.op("Gather", [step.layer_norm(x, weights, "decoder/layer_norm"), "rows"], "scored", axis=1)
    # logits against the tied embeddings, with the very int8 rows the input embedding uses
    projection = step.op("DynamicQuantizeMatMul",
                         [h, embedding_w, embedding_s, step.const(np.zeros(dims.vocab, dtype=np.int8), "emb_zero")],
                         "logits", domain="com.microsoft")
    step.nodes.append(helper.make_node("Identity", [projection], ["logits"]))
    return step.model(inputs, outputs), cross_graph
