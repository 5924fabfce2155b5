"""Benchmark the VAD segmenter on one core against the bare webrtcvad frame loop.

Usage: ``python bench/bench_vad.py [--repeat N] [--chunk-ms MS]``

Reads every file of ``../shared/data/speech`` (beside the repo checkout), concatenates them into one
16 kHz stream and runs, in the same process, for 30 ms and 10 ms frames:

- ``webrtc-raw``: the baseline, ``webrtcvad.Vad.is_speech`` over every frame and nothing else;
- ``segmenter``: ``vad.Segmenter`` (webrtc detector, default options) fed s16le bytes in chunks of
  ``--chunk-ms`` (100 ms, like a live client), clips built and returned;
- ``segmenter-48k-stereo`` (30 ms only): the same audio as 48 kHz stereo int16, so resampling and
  downmixing are included.

Prints one JSON line per configuration (audio_s, wall_s, cpu_s, realtime_factor = audio_s / wall_s,
clips, frames) and then a table. Best of ``--repeat`` runs. Falls back to synthetic audio (tone bursts
in noise), and says so, when the speech folder is absent. Not a pass/fail test; the target is >= 300x
real time for the segmenter on one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soxr  # noqa: E402
import webrtcvad  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from vad import SAMPLE_RATE_HZ, Segmenter, VadOptions, read_audio  # noqa: E402

SPEECH_DIR = REPO_ROOT.parent / "shared" / "data" / "speech"
TARGET_RTF = 300.0


def load_audio() -> tuple[NDArray[np.int16], str]:
    """All speech files concatenated, or a synthetic stand-in when the folder is absent."""
    manifest = SPEECH_DIR / "manifest.jsonl"
    if manifest.is_file():
        rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        parts = [read_audio(SPEECH_DIR / row["audio"]) for row in rows]
        return np.concatenate(parts), f"{len(parts)} files from {SPEECH_DIR}"
    print(f"NOTE: {SPEECH_DIR} not found; using 300 s of synthetic audio (tone bursts in noise)")
    rng = np.random.default_rng(0)
    t = np.arange(300 * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    envelope = (np.sin(2 * np.pi * 0.3 * t) > 0.2).astype(np.float64)
    signal = envelope * 6000 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 30, t.size)
    return np.clip(signal, -32768, 32767).astype(np.int16), "synthetic (speech folder absent)"


def raw_webrtc(pcm: NDArray[np.int16], frame_ms: int) -> tuple[int, int]:
    """The baseline: the bare webrtcvad frame loop over bytes slices."""
    vad = webrtcvad.Vad(2)
    frame_bytes = 2 * SAMPLE_RATE_HZ * frame_ms // 1000
    data = pcm.tobytes()
    voiced = frames = 0
    for pos in range(0, len(data) - frame_bytes + 1, frame_bytes):
        voiced += vad.is_speech(data[pos : pos + frame_bytes], SAMPLE_RATE_HZ)
        frames += 1
    return frames, voiced


def segment(data: bytes, chunk_bytes: int, options: VadOptions, rate: int = 16000, channels: int = 1) -> int:
    """Push ``data`` through a Segmenter in fixed-size byte chunks; return the clip count."""
    segmenter = Segmenter(options, input_sample_rate_hz=rate, input_channels=channels)
    clips = 0
    for pos in range(0, len(data), chunk_bytes):
        clips += len(segmenter.push(data[pos : pos + chunk_bytes]))
    return clips + len(segmenter.flush())


def measure(run: Callable[[], int], repeat: int) -> tuple[float, float, int]:
    """Best wall and CPU seconds over ``repeat`` runs, and the run's result."""
    best_wall = best_cpu = float("inf")
    result = 0
    for _ in range(repeat):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = run()
        best_wall = min(best_wall, time.perf_counter() - wall0)
        best_cpu = min(best_cpu, time.process_time() - cpu0)
    return best_wall, best_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-ms", type=int, default=100)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    pcm, source = load_audio()
    audio_s = pcm.size / SAMPLE_RATE_HZ
    data16 = pcm.tobytes()
    stereo48 = np.repeat(soxr.resample(pcm, SAMPLE_RATE_HZ, 48000)[:, None], 2, axis=1).tobytes()
    chunk16 = 2 * SAMPLE_RATE_HZ * args.chunk_ms // 1000
    results = []
    for frame_ms in (30, 10):
        options = VadOptions(frame_ms=frame_ms)
        configs: list[tuple[str, Callable[[], int]]] = [
            ("webrtc-raw", lambda f=frame_ms: raw_webrtc(pcm, f)[0]),
            ("segmenter", lambda o=options: segment(data16, chunk16, o)),
        ]
        if frame_ms == 30:
            configs.append(
                ("segmenter-48k-stereo", lambda o=options: segment(stereo48, 6 * chunk16, o, 48000, 2))
            )
        for name, run in configs:
            wall, cpu, result = measure(run, args.repeat)
            row = {
                "config": name,
                "frame_ms": frame_ms,
                "audio_s": round(audio_s, 2),
                "wall_s": round(wall, 4),
                "cpu_s": round(cpu, 4),
                "realtime_factor": round(audio_s / wall, 1),
                ("frames" if name == "webrtc-raw" else "clips"): result,
                "source": source,
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    raw = {r["frame_ms"]: r["wall_s"] for r in results if r["config"] == "webrtc-raw"}
    print(
        f"\n{'config':<22}{'frame':>6}{'audio s':>9}{'wall s':>9}{'x realtime':>12}{'vs raw':>8}{'clips':>7}"
    )
    for r in results:
        overhead = r["wall_s"] / raw[r["frame_ms"]]
        clips = r.get("clips", "-")
        print(
            f"{r['config']:<22}{r['frame_ms']:>4}ms{r['audio_s']:>9.1f}{r['wall_s']:>9.3f}"
            f"{r['realtime_factor']:>11.0f}x{overhead:>7.2f}x{clips!s:>7}"
        )
    worst = min(r["realtime_factor"] for r in results if r["config"] == "segmenter")
    verdict = "meets" if worst >= TARGET_RTF else "MISSES"
    print(
        f"segmenter (16 kHz input) worst case {worst:.0f}x real time: {verdict} the {TARGET_RTF:.0f}x target"
    )


if __name__ == "__main__":
    main()
