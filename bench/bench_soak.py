"""Soak: real clips at twice the capacity for ten minutes; every request answered once, memory flat.

    python bench/bench_soak.py [--rate 16] [--minutes 10] [--seed 21] [--env KEY=VALUE ...] [--serve-arg=FLAG ...]

Starts `asr serve` (the embedded model, default settings) and offers open-loop (Poisson) arrivals of
real 2-8 s clips from the shared speech, half unary and half streaming, as `bench_capacity.py` does
(its load generator), at `--rate` (default 16 clips/s: twice the 8 clips/s capacity measured in
docs/capacity.md). Prints:

- answers by status (OK, RESOURCE_EXHAUSTED ...) and lost requests: a request without exactly one
  answer (a stream that ended without its result, or no answer within 60 s). The target is 0.
- the server's RSS every 10 s, and its slope after the first two minutes and over the last half
  (least squares; the target is under 1 MB/min), with where it grew (/proc/PID/smaps_rollup:
  anonymous memory, which holds every heap and arena, against file-backed pages);
- p50/p95/p99 of the admitted requests' server time, against the budget.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_capacity import SPEECH, _free_port, load_clips, run_rate

import vad
from asr_service.client import AsrClient

WARMUP_S = 120.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _anon_mb(pid: int) -> float:
    """Anonymous resident memory (heaps, malloc arenas, mmapped blocks); RSS less this is file-backed."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _slope(samples: list[tuple[float, float]], after_s: float) -> float:
    """MB/min by least squares over the samples taken from `after_s` on."""
    late = [(t, mb) for t, mb in samples if t >= after_s]
    if len(late) < 3:
        return float("nan")
    return float(np.polyfit([t / 60 for t, _ in late], [mb for _, mb in late], 1)[0])


async def _soak(target: str, clips: Any, rate: float, seconds: float, seed: int,
                pid: int) -> tuple[list[dict[str, Any]], list[tuple[float, float]], list[tuple[float, float]]]:
    samples: list[tuple[float, float]] = []
    anon: list[tuple[float, float]] = []
    started = time.monotonic()

    async def sample() -> None:
        while True:
            t = time.monotonic() - started
            samples.append((t, _rss_mb(pid)))
            anon.append((t, _anon_mb(pid)))
            print(f"  t={t:5.0f} s  RSS {samples[-1][1]:6.1f} MB  anonymous {anon[-1][1]:6.1f} MB", flush=True)
            await asyncio.sleep(10.0)

    sampler = asyncio.create_task(sample())
    try:
        rows, _ = await run_rate(target, clips, rate, seconds, seed, pid)
    finally:
        sampler.cancel()
    t = time.monotonic() - started
    samples.append((t, _rss_mb(pid)))
    anon.append((t, _anon_mb(pid)))
    return rows, samples, anon


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=16.0, help="clips per second (default: twice capacity)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="in the server's environment (repeatable): MALLOC_ARENA_MAX=2, ASR_ADMISSION=count")
    parser.add_argument("--serve-arg", action="append", default=[], metavar="FLAG",
                        help="one more `asr serve` argument (repeatable), e.g. --serve-arg=--workers=1")
    parser.add_argument("--out", type=Path, help="also write the per-request rows and RSS samples (JSON)")
    args = parser.parse_args()
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_soak: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    clips = load_clips(vad.VadOptions())
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port),
                               "--log-level", "ERROR", "--budget-ms", str(args.budget_ms), *args.serve_arg],
                              env={**os.environ, **dict(kv.split("=", 1) for kv in args.env)})
    target = f"127.0.0.1:{port}"
    try:
        with AsrClient(target, timeout_s=120) as client:
            client.wait_ready(120)
        print(f"soak: {args.rate:g} clips/s for {args.minutes:g} min against {target} (pid {server.pid})",
              flush=True)
        rows, samples, anon = asyncio.run(_soak(target, clips, args.rate, args.minutes * 60, args.seed, server.pid))
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(60)
    codes: dict[str, int] = {}
    for row in rows:
        codes[row["code"]] = codes.get(row["code"], 0) + 1
    lost = sum(n for code, n in codes.items() if code in ("NO_RESULT", "DEADLINE_EXCEEDED", "UNAVAILABLE"))
    ok = [r["server_ms"] for r in rows if r["code"] == "OK"]
    slope = _slope(samples, WARMUP_S)
    half_s = samples[-1][0] / 2
    print(f"requests: {len(rows)} offered; answers by status: {json.dumps(codes)}")
    print(f"lost (no answer, or a stream that ended without its result): {lost} (target 0); server alive: {alive}")
    print("RSS MB every 10 s: " + " ".join(f"{mb:.0f}" for _, mb in samples))
    print(f"RSS {samples[0][1]:.0f} -> {samples[-1][1]:.0f} MB; slope after {WARMUP_S / 60:g} min: "
          f"{slope:+.2f} MB/min (target under 1); over the last half: {_slope(samples, half_s):+.2f} MB/min")
    print(f"anonymous {anon[0][1]:.0f} -> {anon[-1][1]:.0f} MB; slope after {WARMUP_S / 60:g} min: "
          f"{_slope(anon, WARMUP_S):+.2f} MB/min; over the last half: {_slope(anon, half_s):+.2f} MB/min")
    if ok:
        print(f"admitted: {len(ok)}, server p50/p95/p99 {np.percentile(ok, 50):.0f}/{np.percentile(ok, 95):.0f}/"
              f"{np.percentile(ok, 99):.0f} ms (budget {args.budget_ms:g} ms); over budget: "
              f"{sum(ms > args.budget_ms for ms in ok)}")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "rss": samples, "anonymous": anon, "codes": codes}))
    return 0 if lost == 0 and alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
