"""Benchmark: lint (and fix, normalise) 10,000 varied transcripts on one core; target: lint under 5 s.

Transcripts: the reference texts of ../shared/data/speech (real casing, punctuation, digits, fillers) when
present, and seeded synthetic ones mixing clean words with every kind of convention breach.
Prints one JSON line per measurement, then a short table. Not a pass/fail test.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import urllib.request

import numpy as np

from labeling import Canonicaliser, Linter, Normalizer, WebhookConfig, WebhookReceiver, load_spec

N_TRANSCRIPTS = 10_000
TARGET_S = 5.0
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech" / "manifest.jsonl"

_WORDS = (
    "the", "weather", "today", "is", "going", "to", "be", "sunny", "with", "a", "chance", "of", "rain",
    "in", "the", "afternoon", "and", "we", "should", "probably", "take", "an", "umbrella", "when", "we",
    "leave", "for", "the", "meeting", "at", "noon",
)
_NOISE = ["Um,", "umm", "uh", "Uhh...", "[noise]", "{laugh}", "(laughs)", "<cough>", "[foo]", "25", "1,000",
          "3.5", "1984", "$5", "wor-", "wor—", "well-known", "OK", "alright", "gonna", "café", "today\u2019s",
          "I", "Hello,", "world!", "mm-hmm", "  ", "%uh", "[Noise]", "50%"]


def transcripts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    real: list[str] = []
    if SHARED.exists():
        real = [json.loads(line)["text"] for line in SHARED.read_text().splitlines() if line.strip()]
    out: list[str] = []
    for i in range(n):
        if real and i % 10 == 0:
            out.append(real[i // 10 % len(real)])
            continue
        words = [rng.choice(_WORDS) for _ in range(rng.randint(3, 25))]
        for _ in range(rng.randint(0, 4)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(_NOISE))
        out.append(" ".join(words))
    return out


def timed(fn: Callable[[str], object], texts: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    count = 0
    for text in texts:
        result = fn(text)
        count += len(result) if isinstance(result, list) else 0
    return time.perf_counter() - started, count


def webhook_latency(linter: Linter, texts: list[str], n: int = 300) -> dict[str, object]:
    """Round trip of the webhook receiver (lint inline, answer) over loopback, against the 1 s timeout."""
    hook = WebhookReceiver(WebhookConfig(port=0), linter, session=None)
    hook.start()
    try:
        times = []
        for i, text in enumerate(texts[:n]):
            body = json.dumps({
                "action": "ANNOTATION_CREATED", "project": {"id": 1}, "task": {"id": i, "data": {}},
                "annotation": {"id": i, "task": i, "completed_by": 1, "result": [
                    {"type": "textarea", "from_name": "transcription", "to_name": "audio",
                     "value": {"text": [text]}}]},
            }).encode()
            request = urllib.request.Request(hook.url, data=body, headers={"Content-Type": "application/json"})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
            times.append(time.perf_counter() - started)
    finally:
        hook.stop()
    ms = np.array(times) * 1000
    return {"bench": "labeling.webhook", "requests": n, "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "max_ms": round(float(ms.max()), 2),
            "timeout_ms": 1000}


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    spec = load_spec()
    texts = transcripts(N_TRANSCRIPTS)
    linter, canon, normalizer = Linter(spec), Canonicaliser(spec), Normalizer(spec)
    linter.lint(texts[0])  # warm-up: compiled patterns, caches
    rows = []
    for name, fn in (("lint", linter.lint), ("fix", canon.canonicalise), ("normalise", normalizer.normalize)):
        seconds, violations = timed(fn, texts)
        row = {"bench": f"labeling.{name}", "transcripts": len(texts), "seconds": round(seconds, 3),
               "us_per_transcript": round(1e6 * seconds / len(texts), 1), "target_s": TARGET_S,
               "cores": 1, "spec": spec.label}
        if name == "lint":
            row["violations"] = violations
            row["within_target"] = seconds < TARGET_S
        print(json.dumps(row))
        rows.append(row)
    hook = webhook_latency(linter, texts)
    print(json.dumps(hook))
    print()
    print(f"{'operation':<20} {'transcripts':>11} {'total s':>8} {'µs each':>8}  vs target {TARGET_S:g} s (lint)")
    for row in rows:
        verdict = ("OK" if row["within_target"] else "OVER") if "within_target" in row else ""
        print(f"{row['bench']:<20} {row['transcripts']:>11} {row['seconds']:>8.3f} "
              f"{row['us_per_transcript']:>8.1f}  {verdict}")
    print(f"webhook round trip (lint inline, answer): p50 {hook['p50_ms']} ms, p95 {hook['p95_ms']} ms, "
          f"max {hook['max_ms']} ms over {hook['requests']} requests (Label Studio's timeout: 1000 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
