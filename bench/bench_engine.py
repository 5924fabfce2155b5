"""Benchmark the ctranslate2-whisper engine against faster-whisper on real speech, in the same run.

    python bench/bench_engine.py [--model tiny.en] [--limit N] [--threads T] [--decoders D1,D2] [--out FILE]

Reads ../shared/data/speech (relative to the repository root). Prints one JSON line per clip, one
summary line per engine, then a short table and WER per tag. Baseline: faster-whisper
`WhisperModel(<same model dir>, device="cpu", compute_type="int8").transcribe(audio, beam_size=1)`.
`--decoders ctranslate2,onnxruntime` runs our engine with each decoder side by side. Every engine is
warmed up, then each clip is timed on each in turn, rotating which goes first, so machine noise hits
all of them. WER uses Whisper's English normaliser, over the whole set (jiwer).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import soundfile as sf
from whisper_normalizer.english import EnglishTextNormalizer

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from asr_service.engines import EngineOptions, create_engine  # noqa: E402
from asr_service.engines._model_files import resolve_model  # noqa: E402

DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "speech"
SHORT_CLIP_S = 8.0
_normalise = EnglishTextNormalizer()


def rss_mb() -> float:
    """Resident set size of this process, in MB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_clips(limit: int | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (DATA_DIR / "manifest.jsonl").read_text().splitlines() if line.strip()]
    clips = []
    for row in rows[:limit]:
        audio, rate = sf.read(DATA_DIR / row["audio"], dtype="float32")
        if rate != 16_000 or audio.ndim != 1:
            raise SystemExit(f"{row['audio']}: expected 16 kHz mono, got {rate} Hz, shape {audio.shape}")
        clips.append({**row, "samples": audio})
    return clips


def corpus_wer(refs: list[str], hyps: list[str]) -> float:
    pairs = [(_normalise(r), _normalise(h)) for r, h in zip(refs, hyps, strict=True)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    if not pairs:
        return float("nan")
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def summarise(name: str, clips: list[dict[str, Any]], key: str, rss: float) -> dict[str, Any]:
    short = [c for c in clips if c["duration"] <= SHORT_CLIP_S]

    def lat(group: list[dict[str, Any]]) -> dict[str, float]:
        values = np.array([c[key]["latency_ms"] for c in group])
        return {
            "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p95_ms": round(float(np.percentile(values, 95)), 1),
            "mean_ms": round(float(values.mean()), 1),
        }

    return {
        "summary": name,
        "clips": len(clips),
        "short_clips": len(short),
        "latency_le_8s": lat(short) if short else None,
        "latency_all": lat(clips),
        "wer_overall": round(corpus_wer([c["text"] for c in clips], [c[key]["text"] for c in clips]), 4),
        "wer_le_8s": round(corpus_wer([c["text"] for c in short], [c[key]["text"] for c in short]), 4),
        "fallbacks": sum(bool(c[key].get("used_fallback")) for c in clips),
        "degenerate": sum(bool(c[key].get("degenerate")) for c in clips),
        "rss_mb": round(rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en", help="engine `model` option (default: embedded tiny.en)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of the manifest")
    parser.add_argument("--threads", type=int, default=0, help="our cpu_threads per worker (0: cores / workers)")
    parser.add_argument("--compute-type", default="int8", help="our engine's compute type (default int8)")
    parser.add_argument("--decoders", default="onnxruntime",
                        help="comma-separated decoders of our engine to run side by side "
                             "(onnxruntime, ctranslate2; default onnxruntime)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON lines to this file")
    args = parser.parse_args()
    if not (DATA_DIR / "manifest.jsonl").is_file():
        print(f"no speech data at {DATA_DIR} (expected ../shared/data/speech beside the repo)", file=sys.stderr)
        return 2
    clips = load_clips(args.limit)
    layout = EngineOptions(cpu_threads=args.threads)
    threads = (f"{layout.num_workers} worker(s) x {layout.threads_per_worker} thread(s), "
               f"{layout.threads_when_alone} for a clip alone")
    decoders = [name.strip() for name in args.decoders.split(",") if name.strip()]
    # RSS of the whole process with our model(s) loaded and warm (before faster-whisper is even imported)
    engines = {}
    for decoder in decoders:
        engines[decoder] = create_engine(EngineOptions(model=args.model, cpu_threads=args.threads,
                                                       compute_type=args.compute_type, decoder=decoder))
        engines[decoder].transcribe(clips[0]["samples"])
    rss_ours = rss_mb()
    from faster_whisper import WhisperModel  # dev dependency: the baseline only

    model_dir = str(resolve_model(args.model).path)
    # The baseline as a user would run it: faster-whisper's own thread default (cpu_threads=0).
    baseline = WhisperModel(model_dir, device="cpu", compute_type="int8")
    rss_both = rss_mb()

    def run_ours(decoder: str, audio: np.ndarray) -> dict[str, Any]:
        start = time.perf_counter()
        result = engines[decoder].transcribe(audio)
        elapsed_ms = (time.perf_counter() - start) * 1000
        return {"text": result.text, "latency_ms": round(elapsed_ms, 1), "used_fallback": result.used_fallback,
                "degenerate": result.degenerate, "confidence": round(result.confidence, 3),
                "no_speech_prob": round(result.no_speech_prob, 3), "window_s": result.window_s}

    def run_baseline(audio: np.ndarray) -> dict[str, Any]:
        start = time.perf_counter()
        segments, _ = baseline.transcribe(audio, beam_size=1)
        text = "".join(segment.text for segment in segments).strip()
        return {"text": text, "latency_ms": round((time.perf_counter() - start) * 1000, 1)}

    for clip in clips[:3]:  # warm-up: first calls allocate and page in the weights
        for decoder in decoders:
            run_ours(decoder, clip["samples"])
        run_baseline(clip["samples"])

    lines: list[str] = []
    for index, clip in enumerate(clips):
        # every engine on the same clip in turn, rotating who goes first, so machine noise hits all
        runs = [*decoders, "baseline"]
        shift = index % len(runs)
        for name in runs[shift:] + runs[:shift]:
            clip[name] = run_baseline(clip["samples"]) if name == "baseline" else run_ours(name, clip["samples"])
        row = {
            "audio": clip["audio"], "duration_s": clip["duration"], "tags": clip["tags"], "reference": clip["text"],
            **{name: {**clip[name], "wer": round(corpus_wer([clip["text"]], [clip[name]["text"]]), 3)}
               for name in runs},
        }
        lines.append(json.dumps(row))
        print(lines[-1], flush=True)

    summaries = [
        summarise(f"ours, {decoder} decoder ({engine.info.model_version})", clips, decoder,
                  rss_ours if len(decoders) == 1 else float("nan"))
        for decoder, engine in engines.items()
    ]
    summaries.append(summarise("faster-whisper baseline (int8, beam 1)", clips, "baseline", rss_both - rss_ours))
    for summary in summaries:
        lines.append(json.dumps(summary))
        print(lines[-1])
    print_table(summaries, clips, threads, decoders)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    for engine in engines.values():
        engine.close()
    return 0


def print_table(summaries: list[dict[str, Any]], clips: list[dict[str, Any]], threads: str,
                decoders: list[str]) -> None:
    print(f"\n{len(clips)} clips, ours on {threads}; RSS: process with our engine only "
          f"(one decoder per run), then what the baseline added; process RSS now {rss_mb():.0f} MB")
    print(f"{'engine':<44} {'p50<=8s':>8} {'p95<=8s':>8} {'WER all':>8} {'WER<=8s':>8} {'fallback':>8} {'RSS MB':>7}")
    for s in summaries:
        short = s["latency_le_8s"] or {"p50_ms": float("nan"), "p95_ms": float("nan")}
        print(f"{s['summary'][:44]:<44} {short['p50_ms']:>8.1f} {short['p95_ms']:>8.1f} "
              f"{s['wer_overall'] * 100:>7.2f}% {s['wer_le_8s'] * 100:>7.2f}% {s['fallbacks']:>8d} {s['rss_mb']:>7.1f}")
    base = summaries[-1]
    for decoder, ours in zip(decoders, summaries, strict=False):
        if ours["latency_le_8s"] and base["latency_le_8s"]:
            ratio = ours["latency_le_8s"]["p95_ms"] / base["latency_le_8s"]["p95_ms"]
            print(f"{decoder}: p95 (<= 8 s) ours / baseline = {ratio:.3f} (target <= 0.333); "
                  f"WER delta = {(ours['wer_overall'] - base['wer_overall']) * 100:+.2f} points (target <= +0.5)")
    by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for clip in clips:
        for tag in clip["tags"]:
            by_tag[tag].append(clip)
    print(f"\nWER per tag ({' / '.join(decoders)} / baseline, clips):")
    for tag, group in sorted(by_tag.items(), key=lambda item: -len(item[1])):
        refs = [c["text"] for c in group]
        cells = " ".join(f"{corpus_wer(refs, [c[name]['text'] for c in group]) * 100:6.1f}%"
                         for name in [*decoders, "baseline"])
        print(f"  {tag:<22} {cells}  ({len(group)})")


if __name__ == "__main__":
    raise SystemExit(main())
