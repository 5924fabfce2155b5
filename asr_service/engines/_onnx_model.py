"""A CTranslate2 Whisper model on ONNX Runtime's int8 kernels: the encoder, and the decoder a step at a time.

Why: on the CI machine (AMD EPYC, AVX-512 VNNI) CTranslate2 runs its int8 matrix products through
oneDNN's BLAS-like `gemm_u8s8s32`, which for one decoder step (a matrix-vector product) moves about
9 GB/s: the 384 x 51,864 output projection of tiny.en takes 2.1 ms a step, against 0.48 ms for the
same int8 product in ONNX Runtime's MLAS kernels (`bench/bench_engine.py --decoders` shows the
effect end to end). The encoder runs on ONNX Runtime too (`OnnxWhisperEncoder`): its large matrix
products are about 12 % faster there as well (`bench/bench_encoder.py`).

What it computes: the encoder and decoder of the CTranslate2 model, with their weights quantized to int8 per
output row as CTranslate2 does (`scale = 127 / max|row|`); activations are quantized per call by
ONNX Runtime (`DynamicQuantizeMatMul`, asymmetric uint8) where CTranslate2 uses symmetric int8, so
logits differ in the last digits and, rarely, a near tie goes the other way. The encoder's two
convolutions run in float.

`OnnxWhisperEncoder` runs the encoder graph; `OnnxWhisperModel` runs the decoder's network (the
graphs of `_onnx_graph`); the greedy loop and Whisper's rules that use it are `OnnxWhisperDecoder`
(`_onnx_decoder`).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._ct2_weights import ModelWeights, decode_values, read_model_bin
from asr_service.engines._onnx_graph import Dims, build_cross_graph, build_step_graph, decoder_dims, quantize_rows

__all__ = ["OnnxWhisperEncoder", "OnnxWhisperModel"]

_NEG_INF = np.float32(-np.inf)
_EMBEDDING_CACHE_ROWS = 1024


class OnnxWhisperModel:
    """The decoder network of a CTranslate2 Whisper model, on two ONNX Runtime sessions.

    Thread-safe: the caller keeps the cache, and ONNX Runtime sessions may be run from several
    threads at once.
    """

    def __init__(self, model_dir: Path, *, threads: int = 1, weights: ModelWeights | None = None) -> None:
        """Build the decoder network of the model in `model_dir` (`weights`: its `model.bin`, already read)."""
        import onnxruntime as ort

        if weights is None:
            weights = read_model_bin(model_dir / "model.bin")
        if weights.spec != "WhisperSpec":
            raise ValueError(f"model: {model_dir} holds a {weights.spec}, not a Whisper model")
        config = json.loads((model_dir / "config.json").read_text())
        self._dims = decoder_dims(weights)
        # the model's non-speech symbols (suppress_tokens' -1), and the blank suppress_blank names
        self.suppress_ids = tuple(int(i) for i in config.get("suppress_ids", []))
        self.suppress_ids_begin = tuple(int(i) for i in config.get("suppress_ids_begin", []))
        embedding = weights.variables["decoder/embeddings/weight"]
        if weights.scale("decoder/embeddings/weight") is not None:  # stored quantized: its float values first
            embedding = weights.float32("decoder/embeddings/weight")
        embedding_q, embedding_scale = quantize_rows(embedding)
        self._embedding = _EmbeddingRows(model_dir / "model.bin", weights, "decoder/embeddings/weight")
        options = _session_options(threads)
        providers = ["CPUExecutionProvider"]
        cross = build_cross_graph(weights, self._dims)
        step = build_step_graph(weights, self._dims, embedding_q, embedding_scale)
        del weights, embedding_q, embedding_scale
        self._step = ort.InferenceSession(step, options, providers=providers)
        self._cross = ort.InferenceSession(cross, options, providers=providers)
        del step, cross  # ~200 MB of short-lived buffers with the model file: the caller releases them
        self._empty_cache = np.zeros((1, self._dims.heads, 0, self._dims.d_head), dtype=np.float32)
        # the step graph's inputs, in the order of its outputs after the logits
        self._cache_names = [f"past_{kind}_{i}" for i in range(self._dims.layers) for kind in ("k", "v")]

    @property
    def dims(self) -> Dims:
        """The decoder's shapes."""
        return self._dims

    def close(self) -> None:
        """Release the sessions and close the model file; later decodes raise RuntimeError."""
        self._embedding.close()
        self._step = self._cross = None

    def cross_attention(self, encoder_output: npt.NDArray[np.float32]) -> dict[str, Any]:
        """Each layer's cross-attention keys and values over one window's `[frames, d_model]`, as feeds."""
        if self._cross is None:
            raise RuntimeError("decoder: decode() called after close()")
        layers = self._dims.layers
        cross = self._cross.run(None, {"encoder": np.ascontiguousarray(encoder_output, dtype=np.float32)})
        feeds = {f"cross_k_{i}": cross[2 * i] for i in range(layers)}
        feeds |= {f"cross_v_{i}": cross[2 * i + 1] for i in range(layers)}
        return feeds

    def empty_cache(self) -> dict[str, Any]:
        """The self-attention cache before the first position."""
        return dict.fromkeys(self._cache_names, self._empty_cache)

    def forward(
        self, ids: list[int], start: int, cache: dict[str, Any], cross: dict[str, Any], rows: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """Run `ids` at positions `start...`: the logits of the new positions `rows`, and the grown cache."""
        if self._step is None:
            raise RuntimeError("decoder: decode() called after close()")
        total = start + len(ids)
        # causal: new position p (absolute start + p) sees the cache and the new positions up to p
        columns = np.arange(total)[np.newaxis, :]
        rows_at = start + np.arange(len(ids))[:, np.newaxis]
        mask = np.where(columns > rows_at, _NEG_INF, np.float32(0.0)).astype(np.float32)[np.newaxis, np.newaxis]
        feeds = {"embedded": self._embedding.rows(ids)[np.newaxis], "mask": mask,
                 "positions": np.arange(start, total, dtype=np.int64), "rows": rows}
        outputs = self._step.run(None, {**feeds, **cache, **cross})
        return outputs[0][0], dict(zip(self._cache_names, outputs[1:], strict=True))


class OnnxWhisperEncoder:
    """`Encoder`: the encoder of a CTranslate2 Whisper model on one ONNX Runtime session of `threads` threads.

    Against CTranslate2's encoder on the CI machine (`bench/bench_encoder.py`, 10 s windows, in turn):
    p50 56 vs 65 ms on one thread, 29-36 vs 36-52 ms on two (two runs); WER over the shared speech's
    VAD clips with the same decoder 12.20 vs 12.57 %.
    Thread-safe.
    """

    def __init__(self, graph: bytes, *, threads: int) -> None:
        import onnxruntime as ort

        self._session: Any = ort.InferenceSession(graph, _session_options(threads), providers=["CPUExecutionProvider"])

    def encode(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The encoder output `[1, frames / 2, d_model]` of `features` `[n_mels, frames]`."""
        session = self._session
        if session is None:
            raise RuntimeError("encoder: encode() called after close()")
        encoded: npt.NDArray[np.float32] = session.run(None, {"features": np.ascontiguousarray(features)})[0]
        return encoded

    def close(self) -> None:
        """Release the session; later calls raise RuntimeError."""
        self._session = None


EXACT_INT8_ENTRY = "session.x64quantprecision"  # ONNX Runtime's U8U8 mode, for x86 CPUs without VNNI
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
_X86 = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})


@functools.cache
def needs_exact_int8(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True on an x86 CPU without VNNI, whose default int8 kernels saturate (see `_session_options`); True
    where the CPU cannot be read, to be safe. False elsewhere: ARM and VNNI kernels are exact already."""
    if platform.machine().lower() not in _X86:
        return False
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as lines:
            flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), None)
    except OSError:
        return True
    return flags is None or not VNNI_FLAGS & set(flags)


def _session_options(threads: int) -> Any:
    """ONNX Runtime's options for every session of the model: `threads` threads that do not spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # x86 CPUs without VNNI (AVX2 only, AVX-512 without VNNI): ONNX Runtime's u8 x s8 kernels add
    # pairs of products in saturating 16 bits (VPMADDUBSW), and CTranslate2's int8 weights use the
    # whole -127..127 range, so large activations clip. This option turns the weights to u8 (exact
    # U8U8 kernels). On an AVX2 EPYC: whole-file WER on the report split 13.03 -> 10.06 % (what an
    # earlier, faster host gave), a 30 s window's encoder within 1 % of the time it took before
    # (`bench/bench_int8.py`). Only there: ONNX Runtime converts the weights on any x86 CPU it is set
    # on, and with VNNI, whose u8 x s8 products are exact, U8U8 is only slower (an AVX-512 VNNI EPYC:
    # a clip of 8 s or less on one thread p50 123 -> 89 ms without it, the same text on 206 of 206).
    if needs_exact_int8():
        options.add_session_config_entry(EXACT_INT8_ENTRY, "1")
    # Shapes change every step (the cache grows): an arena would keep a block for each size it
    # met (the server grew by 160 MB over a benchmark run); plain malloc gives them back.
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    return options


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
            quantized, dequant = quantize_rows(raw)
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
