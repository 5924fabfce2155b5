"""Whisper's encoder on ONNX Runtime (the engine's, `OnnxWhisperEncoder`) against CTranslate2's, in one run.

The encoder is the largest share of a clip's time. The engine builds it as an ONNX graph from the
CTranslate2 weights (`asr_service.engines._onnx_graph.build_encoder_graph`):
- the two convolutions in float;
- each layer's linear products on `DynamicQuantizeMatMul`, with CTranslate2's per-row int8 weights;
- the fused `MultiHeadAttention`.

On the 10 s windows of the shared speech's VAD clips, it measures:
1. how close the outputs are to CTranslate2's encoder: correlation, and the largest difference;
2. both encoders' time, clip by clip in turn, on one thread and on two;
3. WER over all the shared speech's VAD clips, with the engine's own decoder reading either
   encoder's output.

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
from whisper_normalizer.english import EnglishTextNormalizer

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.engines import EngineOptions, create_engine  # noqa: E402
from asr_service.engines._ct2_decoder import CTranslate2Encoder  # noqa: E402
from asr_service.engines._ct2_weights import read_model_bin  # noqa: E402
from asr_service.engines._model_files import resolve_model  # noqa: E402
from asr_service.engines._onnx_graph import build_encoder_graph  # noqa: E402
from asr_service.engines._onnx_model import OnnxWhisperEncoder  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
WINDOW_FRAMES = 1000  # the 10 s window every clip of 8 s or less gets


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
    # the default engine: its decoder reads either encoder's output (part 3)
    engine: Any = create_engine(EngineOptions(num_workers=1, cpu_threads=1, solo_threads=1))
    short = [c.pcm.astype(np.float32) / 32768 for cs in clips.values() for c in cs if c.duration_s <= 8.0]
    features = [engine._mel(a, n_frames=WINDOW_FRAMES) for a in short]

    # 1 and 2: closeness and time, CTranslate2 and ONNX Runtime clip by clip in turn, on 1 and 2 threads
    for threads in (1, 2):
        ct2 = CTranslate2Encoder(ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8",
                                                            intra_threads=threads))
        ours_encoder = OnnxWhisperEncoder(graph, threads=threads)
        for f in features[:3]:
            ct2.encode(f), ours_encoder.encode(f)
        times: dict[str, list[float]] = {"ctranslate2": [], "onnxruntime": []}
        correlation, largest = [], []
        for f in features:
            start = time.perf_counter()
            reference = np.asarray(ct2.encode(f))
            times["ctranslate2"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            ours = ours_encoder.encode(f)
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
    texts: dict[str, list[str]] = {"ctranslate2": [], "onnxruntime": []}
    own_encode = engine._encode
    ct2_one = CTranslate2Encoder(ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8",
                                                            intra_threads=1))
    for name in texts:
        if name == "ctranslate2":
            engine._encode = lambda _encoder, features: ct2_one.encode(features)
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
