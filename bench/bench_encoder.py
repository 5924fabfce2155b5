"""A prototype: Whisper's encoder as an ONNX Runtime graph, against CTranslate2's encoder, in one run.

The encoder is the largest share of a clip's time (docs/capacity.md: 69 of 126 ms on one thread, a
10 s window), and the decoder already runs on ONNX Runtime's int8 kernels because they beat
CTranslate2's on this kind of CPU. This bench builds the encoder the same way, with the graph
helpers of `asr_service.engines._onnx_graph`:
- the two convolutions in float;
- the 4 layers' linear products on `DynamicQuantizeMatMul`, with CTranslate2's per-row int8 weights;
- the fused `MultiHeadAttention`.

It then measures, on the 10 s windows of the shared speech's VAD clips:
1. how close the outputs are to CTranslate2's: correlation, and the largest difference;
2. both encoders' time, clip by clip in turn, on one thread and on two;
3. WER over all the shared speech's VAD clips, with the engine's own decoder reading either
   encoder's output.

It is not wired into the engine. Wiring it in is the next capacity step, and the step should follow
these figures.

    python bench/bench_encoder.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import ctranslate2
import jiwer
import numpy as np
import numpy.typing as npt
from whisper_normalizer.english import EnglishTextNormalizer

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.engines import EngineOptions, create_engine  # noqa: E402
from asr_service.engines._ct2_weights import ModelWeights, read_model_bin  # noqa: E402
from asr_service.engines._model_files import resolve_model  # noqa: E402
from asr_service.engines._onnx_graph._builder import GraphBuilder  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
WINDOW_FRAMES = 1000  # the 10 s window every clip of 8 s or less gets


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


def session(graph: bytes, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _ct2_encode(model: Any, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.asarray(model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[np.newaxis]))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N files")
    args = parser.parse_args()
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_encoder: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    manifest = [json.loads(x) for x in (SPEECH / "manifest.jsonl").read_text().splitlines() if x.strip()]
    manifest = manifest[: args.limit] if args.limit else manifest
    clips = {row["audio"]: list(vad.iter_file_clips(SPEECH / row["audio"])) for row in manifest}
    model_dir = resolve_model("tiny.en").path
    graph = build_encoder_graph(read_model_bin(model_dir / "model.bin"))
    engine: Any = create_engine(EngineOptions(num_workers=1, cpu_threads=1, solo_threads=1))
    short = [c.pcm.astype(np.float32) / 32768 for cs in clips.values() for c in cs if c.duration_s <= 8.0]
    features = [engine._mel(a, n_frames=WINDOW_FRAMES) for a in short]

    # 1 and 2: closeness and time, CTranslate2 and ONNX Runtime clip by clip in turn, on 1 and 2 threads
    for threads in (1, 2):
        ct2 = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8", intra_threads=threads)
        ort_session = session(graph, threads)
        for f in features[:3]:
            _ct2_encode(ct2, f), ort_session.run(None, {"features": f})
        times: dict[str, list[float]] = {"ctranslate2": [], "onnxruntime": []}
        correlation, largest = [], []
        for f in features:
            start = time.perf_counter()
            reference = _ct2_encode(ct2, f)
            times["ctranslate2"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            ours = ort_session.run(None, {"features": f})[0]
            times["onnxruntime"].append((time.perf_counter() - start) * 1000)
            correlation.append(float(np.corrcoef(reference.ravel(), ours.ravel())[0, 1]))
            largest.append(float(np.abs(reference - ours).max() / np.abs(reference).max()))
        print(json.dumps({"threads": threads, "windows": len(features),
                          **{f"{k}_p50_ms": round(float(np.percentile(v, 50)), 1) for k, v in times.items()},
                          **{f"{k}_mean_ms": round(float(np.mean(v)), 1) for k, v in times.items()},
                          "min_correlation": round(min(correlation), 5),
                          "max_diff_over_max_value": round(max(largest), 3)}))
        del ct2

    # 3: WER with the engine's decoder reading each encoder (the engine's `_encode` swapped for the bench)
    normalise = EnglishTextNormalizer()
    ort_one = session(graph, 1)
    texts: dict[str, list[str]] = {"ctranslate2": [], "onnxruntime": []}
    own_encode = engine._encode
    for name in texts:
        if name == "onnxruntime":
            engine._encode = lambda _model, batch: ort_one.run(None, {"features": np.asarray(batch)[0]})[0]
        for row in manifest:
            texts[name].append(" ".join(engine.transcribe(c.pcm.astype(np.float32) / 32768).text
                                        for c in clips[row["audio"]]))
        engine._encode = own_encode
    refs = [normalise(row["text"]) for row in manifest]
    keep = [i for i, r in enumerate(refs) if r.strip()]
    for name, hyps in texts.items():
        wer = jiwer.wer([refs[i] for i in keep], [normalise(hyps[i]) for i in keep])
        print(json.dumps({"encoder": name, "files": len(keep), "wer_whisper": round(100 * wer, 2)}))
    same = sum(a == b for a, b in zip(texts["ctranslate2"], texts["onnxruntime"], strict=True))
    print(json.dumps({"files_with_identical_text": same, "files": len(manifest)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
