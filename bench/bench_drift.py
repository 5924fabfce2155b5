"""Drift detection delay and false alarms on real speech (../shared/data/speech), driving the detector directly.

Design: every file goes through the client VAD (`--max-clip-s`, `--min-silence-ms`, `--vad-aggressiveness`);
clips alternate between a baseline half and a live half within each file (so both halves hold the same
speakers). The live stream is the other half, shuffled and cycled: first `window` unshifted clips (the
warm-up fills the window; any drift verdict there, or in a run of `--clips` unshifted clips, is a false
alarm), then the same files shifted (gain -30 dB, white noise at 10 dB SNR, pitch x1.2, VAD padding 0 ms and
1000 ms). The delay is the number of shifted clips until a drift verdict (tests every `--every` clips).
Model features (confidence, words per second, null rate) are added with `--model` (runs tiny.en on every
clip: minutes on 2 cores).

    python bench/bench_drift.py [--seeds 10] [--model]

Prints one JSON line per condition and a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vad
from asr_service.client import LocalTranscriber, add_noise, apply_gain, clips_of_pcm, features_of_clip, pitch_up
from asr_service.config import ServerConfig
from asr_service.monitoring import Baseline, ClipFeatures, DriftOptions, features_of_result

SPEECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"
Pcm = npt.NDArray[np.int16]


def conditions(options: vad.VadOptions) -> dict[str, tuple[Callable[[Pcm], Pcm], vad.VadOptions]]:
    """name -> (audio transform, VAD options) of the live traffic."""
    wide = dataclasses.replace(options, pre_padding_ms=1000, post_padding_ms=1000,
                               max_clip_s=max(options.max_clip_s, 2.1))
    return {
        "none": (lambda x: x, options),
        "gain_-30dB": (lambda x: apply_gain(x, -30.0), options),
        "white_noise_10dB": (lambda x: add_noise(x, 10.0), options),
        "pitch_x1.2": (lambda x: pitch_up(x, 1.2), options),
        "vad_padding_0ms": (lambda x: x, dataclasses.replace(options, pre_padding_ms=0, post_padding_ms=0)),
        "vad_padding_1000ms": (lambda x: x, wide),
    }


def features(options: vad.VadOptions, model: bool) -> dict[str, dict[str, list[ClipFeatures]]]:
    """condition -> file -> features of its clips."""
    files = [json.loads(line)["audio"] for line in (SPEECH / "manifest.jsonl").read_text().splitlines() if line]
    audio = {f: vad.read_audio(SPEECH / f) for f in files}
    transcriber = LocalTranscriber(ServerConfig(), pitch=True) if model else None
    out: dict[str, dict[str, list[ClipFeatures]]] = {}
    for name, (transform, vad_options) in conditions(options).items():
        out[name] = {}
        for f, pcm in audio.items():
            clips = clips_of_pcm(transform(pcm), vad_options)
            out[name][f] = [features_of_result(transcriber.recognize_clip(c)) if transcriber else features_of_clip(c)
                            for c in clips]
    if transcriber:
        transcriber.close()
    return out


def halves(per_file: dict[str, list[ClipFeatures]], seed: int) -> tuple[list[ClipFeatures], list[ClipFeatures]]:
    """Alternate clips within each file between two halves (the file order and the phase depend on `seed`)."""
    files = sorted(per_file)
    random.Random(seed).shuffle(files)
    first: list[ClipFeatures] = []
    second: list[ClipFeatures] = []
    phase = seed
    for f in files:
        for i, clip in enumerate(per_file[f]):
            (first if (i + phase) % 2 == 0 else second).append(clip)
        phase += len(per_file[f])
    return first, second


def cycle(rows: list[ClipFeatures], n: int, rng: random.Random) -> list[ClipFeatures]:
    """`n` clips: `rows` shuffled, again and again."""
    out: list[ClipFeatures] = []
    while len(out) < n:
        batch = rows[:]
        rng.shuffle(batch)
        out += batch
    return out[:n]


def first_verdict(baseline: Baseline, opts: DriftOptions, warm: list[ClipFeatures], live: list[ClipFeatures],
                  every: int) -> tuple[int | None, list[str], int, int]:
    """(clips of `live` until a drift verdict or None, drifted features, false evaluations, evaluations).

    The warm-up clips are fed first; verdicts during the warm-up count as false alarms.
    """
    monitor = baseline.drift_monitor(opts)
    false_evals = evals = 0
    for i, clip in enumerate(warm, 1):
        monitor.observe(clip)
        if i % every == 0:
            drifted = [d.feature for d in monitor.evaluate() if d.votes >= opts.votes_required]
            evals += 1
            false_evals += bool(drifted)
    for i, clip in enumerate(live, 1):
        monitor.observe(clip)
        if i % every == 0:
            drifted = [d.feature for d in monitor.evaluate() if d.votes >= opts.votes_required]
            if drifted:
                return i, drifted, false_evals, evals
    return None, [], false_evals, evals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--clips", type=int, default=1000, help="unshifted clips per false-alarm run")
    parser.add_argument("--max-shifted", type=int, default=600)
    parser.add_argument("--every", type=int, default=10, help="test the window every N clips")
    parser.add_argument("--max-clip-s", type=float, default=3.0)
    parser.add_argument("--min-silence-ms", type=int, default=200)
    parser.add_argument("--vad-aggressiveness", type=int, default=vad.VadOptions().aggressiveness,
                        help="WebRTC VAD mode (default: vad/'s)")
    parser.add_argument("--model", action="store_true", help="add confidence, words/s and null rate (slow)")
    defaults = DriftOptions()
    parser.add_argument("--ks-p-max", type=float, default=defaults.ks_p_max)
    parser.add_argument("--wasserstein-min", type=float, default=defaults.wasserstein_min)
    parser.add_argument("--psi-min", type=float, default=defaults.psi_min)
    parser.add_argument("--votes", type=int, default=defaults.votes_required)
    args = parser.parse_args()
    opts = DriftOptions(ks_p_max=args.ks_p_max, wasserstein_min=args.wasserstein_min, psi_min=args.psi_min,
                        votes_required=args.votes)
    feats = features(vad.VadOptions(max_clip_s=args.max_clip_s, min_silence_ms=args.min_silence_ms,
                                    aggressiveness=args.vad_aggressiveness), args.model)
    rows = []
    for name in feats:
        delays: list[int | None] = []
        hit: dict[str, int] = {}
        false_evals = evals = false_runs = 0
        for seed in range(args.seeds):
            rng = random.Random(seed)
            base_half, live_half = halves(feats["none"], seed)
            baseline = Baseline.from_features(base_half, source="half")
            live = halves(feats[name], seed)[1]
            if name == "none":  # a long unshifted run: every verdict is a false alarm
                delay, _, f_evals, n_evals = first_verdict(
                    baseline, opts, cycle(live_half, args.clips, rng), [], args.every)
                false_runs += f_evals > 0
            else:
                delay, drifted, f_evals, n_evals = first_verdict(
                    baseline, opts, cycle(live_half, opts.window_clips, rng), cycle(live, args.max_shifted, rng),
                    args.every)
                delays.append(delay)
                for feature in drifted:
                    hit[feature] = hit.get(feature, 0) + 1
            false_evals += f_evals
            evals += n_evals
        found = [d for d in delays if d is not None]
        row = {"condition": name, "seeds": args.seeds, "model": args.model,
               "false_alarm_evaluations": false_evals, "evaluations": evals,
               "false_alarm_runs": false_runs if name == "none" else None,
               "detected": len(found) if name != "none" else None,
               "delay_clips_median": statistics.median(found) if found else None,
               "delay_clips_max": max(found) if found else None, "features": hit}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'condition':20s} {'detected':>9s} {'median':>7s} {'max':>5s}  false alarms (evaluations)")
    for r in rows:
        detected = f"{r['detected']}/{r['seeds']}" if r["detected"] is not None else "-"
        print(f"{r['condition']:20s} {detected:>9s} {r['delay_clips_median']!s:>7s} {r['delay_clips_max']!s:>5s}  "
              f"{r['false_alarm_evaluations']}/{r['evaluations']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
