"""Alarms on normal traffic and on harmful traffic: false alarms, detection, and the signals that move.

Stage 1 (slow, cached): every file of ../shared/data/speech through the default client VAD and the
in-process recognizer (the server's code), clean and shifted the ways users' audio goes wrong
(quiet: -30 dB; noisy: white noise at 10 and 5 dB SNR). One JSON line per clip: split, duration,
level, confidence, null reason, words, server latency; and the WER of each shift (Whisper normaliser).

Stage 2: the server's own alarm board (`Monitor.tick`, fake clock) over simulated live traffic: the
clips of half of one split's files, shuffled and cycled, at `--rate` clips per second for `--minutes`,
with a drift baseline built from the clean clips of the other half of that split's files (`--baseline
same`: of the very files replayed, as an operator replaying the baseline's own dev set). Latency comes
from each clip's measured server time. Prints, per traffic kind, how many alarm transitions each alarm
made (on clean traffic every transition is a false alarm) and the first firing time of each on shifted
traffic.

Defaults (the margins, the latency clip bound, the low-confidence cut) were chosen on the tune split
(`--split tune`); the figures to report are `--split report`.

    python bench/bench_alarms.py [--split report] [--cache /tmp/asr-bench-alarms] [--seeds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
from whisper_normalizer.english import EnglishTextNormalizer

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.audio import AudioStats  # noqa: E402
from asr_service.client import LocalTranscriber  # noqa: E402
from asr_service.client._baseline import clips_of_pcm  # noqa: E402
from asr_service.client._shifts import add_noise, apply_gain  # noqa: E402
from asr_service.config import MonitoringOptions, ServerConfig  # noqa: E402
from asr_service.engines import EngineInfo  # noqa: E402
from asr_service.evaluation.manifest import load_manifest  # noqa: E402
from asr_service.monitoring import Baseline, Monitor, alarm_rules, features_of_result  # noqa: E402
from asr_service.recognizer import Latency, NullReason, RecognitionResult, VadStats  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
SHIFTS = {
    "clean": lambda pcm, seed: pcm,
    "quiet -30 dB": lambda pcm, seed: apply_gain(pcm, -30.0),
    "noise 10 dB SNR": lambda pcm, seed: add_noise(pcm, 10.0, seed=seed),
    "noise 5 dB SNR": lambda pcm, seed: add_noise(pcm, 5.0, seed=seed),
}
_norm = EnglishTextNormalizer()


def split_of(audio: str) -> str:
    """"tune" or "report": the same fixed halves as bench_vad_path.py."""
    return "tune" if int(hashlib.sha256(audio.encode()).hexdigest(), 16) % 2 == 0 else "report"


def collect(cache: Path) -> dict[str, list[dict[str, Any]]]:
    """Per shift, one record per clip (computed once, then read from `cache`)."""
    path = cache / "clips.jsonl"
    if path.exists():
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            out[row["shift"]].append(row)
        return out
    cache.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(SPEECH / "manifest.jsonl")
    transcriber = LocalTranscriber(ServerConfig(), pitch=True)
    options = vad.VadOptions()
    out = defaultdict(list)
    try:
        for shift, transform in SHIFTS.items():
            started = time.perf_counter()
            for i, utt in enumerate(manifest.utterances):
                pcm = transform(vad.read_audio(utt.audio_path), i)
                for clip in clips_of_pcm(pcm, options):
                    r = transcriber.recognize_clip(clip)
                    out[shift].append({
                        "shift": shift, "utt_id": utt.utt_id, "split": split_of(utt.audio), "text": r.text,
                        "reference": utt.text, "confidence": r.confidence, "null_reason": r.null_reason.name,
                        "duration_s": r.audio.duration_s, "rms_dbfs": r.audio.rms_dbfs,
                        "peak_dbfs": r.audio.peak_dbfs, "pitch_hz": r.audio.pitch_hz,
                        "speech_ratio": r.vad.speech_ratio if r.vad else None,
                        "pre_padding_ms": r.vad.pre_padding_ms if r.vad else 0,
                        "post_padding_ms": r.vad.post_padding_ms if r.vad else 0,
                        "server_ms": r.latency.server_total_ms, "inference_ms": r.latency.inference_ms})
            print(f"{shift}: {len(out[shift])} clips in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        transcriber.close()
    path.write_text("".join(json.dumps(r) + "\n" for rows in out.values() for r in rows))
    return out


def wer_of(rows: list[dict[str, Any]]) -> float:
    """WER of the clips' texts joined per file against the file's reference (Whisper normaliser)."""
    texts: dict[str, list[str]] = defaultdict(list)
    refs: dict[str, str] = {}
    for r in rows:
        texts[r["utt_id"]].append(r["text"])
        refs[r["utt_id"]] = r["reference"]
    ids = sorted(refs)
    return float(jiwer.wer([_norm(refs[i]) or "-" for i in ids], [_norm(" ".join(texts[i])) for i in ids]))


_INFO = EngineInfo(model_id="tiny.en", model_version="bench", engine="ctranslate2", config_hash="0")


def as_result(row: dict[str, Any], budget_ms: float) -> RecognitionResult:
    """A recorded clip as the recognizer's result, for the monitor."""
    null = NullReason[row["null_reason"]]
    return RecognitionResult(
        clip_id="", text=row["text"], confidence=row["confidence"], null_reason=null, no_speech_prob=0.0,
        model=_INFO, role="primary",
        latency=Latency(queue_wait_ms=0.0, inference_ms=row["inference_ms"], server_total_ms=row["server_ms"],
                        budget_ms=budget_ms),
        audio=AudioStats(duration_s=row["duration_s"], rms_dbfs=row["rms_dbfs"], peak_dbfs=row["peak_dbfs"],
                         clipped_ratio=0.0, sample_rate_hz=16_000, pitch_hz=row["pitch_hz"]),
        vad=VadStats(speech_ratio=row["speech_ratio"] or 0.0, pre_padding_ms=row["pre_padding_ms"],
                     post_padding_ms=row["post_padding_ms"]))


def baseline_of(rows: list[dict[str, Any]]) -> Baseline:
    """The drift baseline of recorded clips (what `asr monitor baseline` builds from the same clips)."""
    return Baseline.from_features([features_of_result(as_result(r, 300.0)) for r in rows], source="clean clips")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def simulate(rows: list[dict[str, Any]], baseline: Baseline, *, rate: float, minutes: float, seed: int,
             monitoring: MonitoringOptions) -> dict[str, Any]:
    """Live traffic of `rows` (shuffled, cycled) through a monitor; alarm transitions and first firings."""
    clock = Clock()
    config = ServerConfig(http_port=None, monitoring=monitoring)
    monitor = Monitor(config, baseline=baseline, clock=clock, read_cpu=lambda: (0.0, 0.0))
    rng = random.Random(seed)
    order: list[dict[str, Any]] = []
    transitions: Counter[str] = Counter()
    first: dict[str, float] = {}
    start = clock.now
    next_tick = start + monitoring.interval_s
    t = start
    end = start + minutes * 60.0
    while t < end:
        if not order:
            order = rows[:]
            rng.shuffle(order)
        t += rng.expovariate(rate)
        while next_tick <= t:  # the monitor's timer runs between arrivals
            clock.now = next_tick
            before = set(monitor.alarms.active())
            monitor.tick()
            after = set(monitor.alarms.active())
            for name in before ^ after:  # fired or cleared (not the quiet changes to and from NO DATA)
                transitions[name] += 1
                if name in after and name not in first:
                    first[name] = next_tick - start
            next_tick += monitoring.interval_s
        clock.now = t
        monitor.observe(as_result(order.pop(), config.budget_ms))
    return {"transitions": dict(transitions), "first_fired_s": first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("tune", "report"), default="report")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/asr-bench-alarms"))
    parser.add_argument("--rate", type=float, default=2.0, help="clips per second of simulated traffic")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--baseline", choices=("other", "same"), default="other",
                        help="build the baseline from the other half of the split's files (default) or from the "
                             "very files replayed (an unshifted replay of the baseline's own data)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a [monitoring] option for the simulated server (e.g. alarm_margin_z=3)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if not SPEECH.exists():
        sys.exit(f"{SPEECH} is absent: this benchmark needs the shared speech")
    data = collect(args.cache)

    def half(row: dict[str, Any]) -> str:  # files, not clips: a file's clips stay on one side
        return "a" if int(hashlib.sha256(("half:" + row["utt_id"]).encode()).hexdigest(), 16) % 2 == 0 else "b"

    live_half = "b" if args.baseline == "other" else "a"
    baseline_rows = [r for r in data["clean"] if r["split"] == args.split and half(r) == "a"]
    baseline = baseline_of(baseline_rows)
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    monitoring = dataclasses.replace(MonitoringOptions(), **overrides)
    print(f"baseline: half a of the {args.split} split's files, clean: {baseline.clips} clips, "
          f"null rate {baseline.null_rate:.3f}; traffic: {'the other half' if live_half == 'b' else 'the same'} files")
    print(f"| traffic ({args.split} split) | clips | WER | null rate | mean conf | low-conf share "
          f"| alarm transitions in {args.seeds} x {args.minutes:g} min | first firing (s, median) |")
    print("|---|---|---|---|---|---|---|---|")
    for shift, rows in data.items():
        mine = [r for r in rows if r["split"] == args.split and half(r) == live_half]
        texts = [r for r in mine if r["null_reason"] == "NONE"]
        runs = [simulate(mine, baseline, rate=args.rate, minutes=args.minutes, seed=s, monitoring=monitoring)
                for s in range(args.seeds)]
        total: Counter[str] = Counter()
        firsts: dict[str, list[float]] = defaultdict(list)
        for run in runs:
            total.update(run["transitions"])
            for name, t in run["first_fired_s"].items():
                firsts[name].append(t)
        conf = [r["confidence"] for r in texts]
        low_cut = alarm_rules(ServerConfig(monitoring=monitoring), baseline).low_confidence  # the server's own cut
        low = sum(c < low_cut for c in conf) / len(conf) if conf and low_cut is not None else math.nan
        transitions = ", ".join(f"{k} {v}" for k, v in sorted(total.items())) or "none"
        fired = ", ".join(f"{k} {np.median(v):.0f} ({len(v)}/{args.seeds})" for k, v in sorted(firsts.items()))
        print(f"| {shift} | {len(mine)} | {wer_of(mine):.1%} | {1 - len(texts) / len(mine):.3f} | "
              f"{np.mean(conf):.3f} | {low:.3f} | {transitions} | {fired or '-'} |")



if __name__ == "__main__":
    main()
