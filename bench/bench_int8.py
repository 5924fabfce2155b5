"""ONNX Runtime's int8 kernels on this CPU: the engine's exact U8U8 mode against ONNX Runtime's default, in one run.

The engine's encoder and decoder multiply by CTranslate2's int8 weights, which use the whole -127..127
range, with `DynamicQuantizeMatMul` (u8 activations times s8 weights). On x86 CPUs without VNNI (AVX2,
AVX-512 without VNNI), ONNX Runtime's default kernel for that adds each pair of products in saturating
16 bits (VPMADDUBSW), so large activations clip. On those CPUs the engine's sessions set
`session.x64quantprecision`, which turns the weights to u8 and runs exact U8U8 kernels; on CPUs with VNNI,
whose u8 x s8 products are exact, they do not, as U8U8 is only slower there (`_onnx_model._session_options`).

This bench runs both ways on the same inputs and prints:
1. the CPU (VNNI or not), ONNX Runtime's version, and which mode the engine takes on it;
2. a linear layer at the weights' full range and the largest activations: the largest error against
   float `x @ W.T`, relative to the largest output;
3. the encoder on 10 s and 30 s windows of real speech, one thread and two, the two ways in turn:
   p50 time, and correlation with CTranslate2's encoder on the same features;
4. WER (Whisper's and the convention normaliser) over the shared speech (`--split`, as in
   `bench_vad_path.py`), whole files and the client VAD's clips, with the per-file or per-clip p50/p95.

    python bench/bench_int8.py [--split report|tune|all]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import onnxruntime as ort

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench_vad_path import NORMALISERS, SPEECH, FileRun, as_audio, file_errors, split_of  # noqa: E402

import vad  # noqa: E402
from asr_service.engines import (  # noqa: E402
    EngineOptions,
    _onnx_model,
    create_engine,
)
from asr_service.engines._ct2_weights import read_model_bin  # noqa: E402
from asr_service.engines._mel import LogMel  # noqa: E402
from asr_service.engines._model_files import resolve_model  # noqa: E402
from asr_service.engines._onnx_graph import build_encoder_graph  # noqa: E402
from asr_service.engines._onnx_graph._builder import GraphBuilder  # noqa: E402

_own_options = _onnx_model._session_options


def _with_entry(value: str) -> Callable[[int], Any]:
    def options(threads: int) -> Any:
        built = _own_options(threads)
        built.add_session_config_entry(_onnx_model.EXACT_INT8_ENTRY, value)
        return built

    return options


# each mode's session options: the engine's own, with ONNX Runtime's U8U8 mode on or off
MODES: dict[str, Callable[[int], Any]] = {"U8U8 (x64quantprecision)": _with_entry("1"),
                                          "ONNX Runtime default (U8S8)": _with_entry("0")}


@contextmanager
def mode(name: str) -> Iterator[None]:
    """Sessions built inside use ONNX Runtime's U8U8 mode or its default kernels."""
    _onnx_model._session_options = MODES[name]  # type: ignore[assignment]
    try:
        yield
    finally:
        _onnx_model._session_options = _own_options  # type: ignore[assignment]


def cpu_flags() -> dict[str, Any]:
    """The CPU's name, and whether it has AVX2 and VNNI (from /proc/cpuinfo; both False elsewhere)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                platform.processor())
    return {"cpu": name, "machine": platform.machine(), "avx2": "avx2" in flags,
            "vnni": bool(_onnx_model.VNNI_FLAGS & flags), "onnxruntime": ort.__version__}


def linear_error(session_options: Callable[[int], Any]) -> float:
    from onnx import TensorProto, helper

    rows, columns = 64, 384
    weight = np.full((rows, columns), 0.5, dtype=np.float32)
    weight[::2] *= -1
    x = np.full((1, columns), 3.0, dtype=np.float32)
    graph = GraphBuilder("linear")
    graph.name_output(graph.linear("x", weight, None, "linear"), "y")
    model = graph.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, columns])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows])])
    y = ort.InferenceSession(model, session_options(1), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    reference = x @ weight.T
    return float(np.abs(y - reference).max() / np.abs(reference).max())


def _wer_run(engine: Any, rows: list[dict[str, Any]], samples: dict[str, Any], clips: dict[str, list[vad.Clip]],
             path: str) -> dict[str, Any]:
    """WER and latency of whole files or of their clips through `engine`."""
    runs, latencies = [], []
    for r in rows:
        pieces = [samples[r["audio"]]] if path == "whole" else [c.pcm for c in clips[r["audio"]]]
        texts = []
        for pcm in pieces:
            start = time.perf_counter()
            texts.append(engine.transcribe(as_audio(pcm)).text)
            latencies.append((time.perf_counter() - start) * 1000)
        runs.append(FileRun(texts, []))
    line: dict[str, Any] = {"path": path, "files": len(rows)}
    for label, normalise in NORMALISERS:
        errors, lengths = file_errors(rows, runs, normalise)
        line[label] = round(100 * sum(errors) / sum(lengths), 2)
    line["p50_ms"] = round(float(np.percentile(latencies, 50)), 1)
    line["p95_ms"] = round(float(np.percentile(latencies, 95)), 1)
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("tune", "report", "all"), default="report")
    args = parser.parse_args()
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_int8: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    engine_mode = list(MODES)[0 if _onnx_model.needs_exact_int8() else 1]
    print(json.dumps({**cpu_flags(), "engine_mode": engine_mode}))
    print(json.dumps({"linear_layer_max_error": {name: round(linear_error(options), 4)
                                                 for name, options in MODES.items()}}))

    manifest = [json.loads(x) for x in (SPEECH / "manifest.jsonl").read_text().splitlines() if x.strip()]
    rows = [r for r in manifest if args.split == "all" or split_of(r["audio"]) == args.split]
    samples = {r["audio"]: vad.read_audio(SPEECH / r["audio"]) for r in rows}
    clips = {k: list(vad.iter_pcm_clips(io.BytesIO(v.tobytes()), vad.VadOptions())) for k, v in samples.items()}

    # 3: the encoder alone, both ways in turn, against CTranslate2's on the same features
    model_dir = resolve_model("tiny.en").path
    graph = build_encoder_graph(read_model_bin(model_dir / "model.bin"))
    longest = as_audio(max(samples.values(), key=len)[: 16_000 * 28])
    mel = LogMel(80)
    for frames in (1000, 3000):
        features = mel(longest[: frames * 160 - 32_000], n_frames=frames)
        reference = np.asarray(ctranslate2.models.Whisper(str(model_dir), compute_type="int8", intra_threads=1)
                               .encode(ctranslate2.StorageView.from_array(features[np.newaxis])))
        for threads in (1, 2):
            sessions = {name: ort.InferenceSession(graph, options(threads), providers=["CPUExecutionProvider"])
                        for name, options in MODES.items()}
            times: dict[str, list[float]] = {name: [] for name in MODES}
            outputs = {name: s.run(None, {"features": features})[0] for name, s in sessions.items()}
            for _ in range(12):
                for name, session in sessions.items():
                    start = time.perf_counter()
                    session.run(None, {"features": features})
                    times[name].append((time.perf_counter() - start) * 1000)
            print(json.dumps({"encoder_window_s": frames // 100, "threads": threads, **{
                name: {"p50_ms": round(float(np.median(times[name])), 1),
                       "correlation_with_ctranslate2": round(float(np.corrcoef(outputs[name].ravel(),
                                                                               reference.ravel())[0, 1]), 4)}
                for name in MODES}}))

    # 4: WER through the engine, whole files and clips, both ways
    results = []
    for name in MODES:
        with mode(name):  # the whole run inside: the engine may build a session late (its solo encoder)
            engine = create_engine(EngineOptions())
            try:
                engine.transcribe(as_audio(samples[rows[0]["audio"]]))  # warm-up
                for path in ("whole", "clips"):
                    line = _wer_run(engine, rows, samples, clips, path)
                    results.append({"mode": name, **line})
                    print(json.dumps(results[-1]), flush=True)
            finally:
                engine.close()
    print(f"\n{'mode':30} {'path':6} {'WER whisper':>11} {'convention':>10} {'p50/p95 ms':>12}")
    for line in results:
        print(f"{line['mode']:30} {line['path']:6} {line['wer_whisper']:10.2f}% {line['wer_convention']:9.2f}% "
              f"{line['p50_ms']:6.0f}/{line['p95_ms']:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
