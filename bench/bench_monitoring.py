"""Per-request cost of the monitoring: the observer (metrics, windows, drift features) and the gRPC interceptor.

Same run, same process, alternating rounds: N results through the recognizer's observers without monitoring
(none) and with it (Monitor.observe, drift on); N calls of a trivial async
handler, found and called as gRPC does, bare and through the interceptor; the voice-pitch estimate that
decode_clip runs per clip when the server has a drift baseline (--baseline); and a monitor tick
(off the hot path) over full windows (the median of 5, after a first one that also imports scipy).
Prints JSON lines and a table.

    python bench/bench_monitoring.py [--n 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr_service.audio import AudioStats
from asr_service.config import ServerConfig
from asr_service.engines import EngineInfo
from asr_service.monitoring import Baseline, ClipFeatures, Monitor
from asr_service.pitch import estimate_pitch_hz
from asr_service.recognizer import Latency, NullReason, RecognitionResult, VadStats
from asr_service.server._interceptor import MetricsInterceptor


def results(n: int) -> list[RecognitionResult]:
    info = EngineInfo(model_id="m", model_version="m-1", engine="e", config_hash="0")
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        null = NullReason.NO_SPEECH if i % 20 == 0 else NullReason.NONE
        out.append(RecognitionResult(
            clip_id=str(i), text="" if null is not NullReason.NONE else "go forward ten meters", confidence=0.8,
            null_reason=null, no_speech_prob=0.1, model=info, role="primary",
            latency=Latency(queue_wait_ms=1.0, inference_ms=float(rng.uniform(80, 280)),
                            server_total_ms=float(rng.uniform(90, 320)), budget_ms=300.0),
            audio=AudioStats(duration_s=float(rng.uniform(1, 8)), rms_dbfs=float(rng.uniform(-35, -15)),
                             peak_dbfs=-3.0, clipped_ratio=0.0, sample_rate_hz=16_000, pitch_hz=140.0),
            vad=VadStats(speech_ratio=0.7, pre_padding_ms=300, post_padding_ms=300)))
    return out


def per_call_us(observers: tuple[Callable[[RecognitionResult], None], ...], batch: list[RecognitionResult]) -> float:
    started = time.perf_counter()
    for result in batch:  # what Recognizer.recognize does after each result
        for observe in observers:
            observe(result)
    return (time.perf_counter() - started) / len(batch) * 1e6


class _Context:
    def code(self) -> None:
        return None


class _Details:
    method = "/asr.v1.Recognizer/Recognize"


def interceptor_us(n: int, interceptor: MetricsInterceptor | None) -> float:
    """One unary call as gRPC makes it: find the method's handler (through `interceptor`, if any), run it."""

    async def handler(request: Any, context: Any) -> str:
        return "ok"

    method_handler = grpc.unary_unary_rpc_method_handler(handler)

    async def continuation(details: Any) -> Any:
        return method_handler

    details, context = _Details(), _Context()

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(n):
            if interceptor is not None:
                found = await interceptor.intercept_service(continuation, details)
            else:
                found = await continuation(details)
            await found.unary_unary(None, context)
        return (time.perf_counter() - started) / n * 1e6

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("asr_service").setLevel(logging.ERROR)  # the synthetic traffic fires alarms: not news here
    batch = results(args.n)
    rows = [ClipFeatures(duration_s=float(d), rms_dbfs=-25.0 + float(d), pitch_hz=140.0, speech_ratio=0.7,
                         padding_s=0.6, confidence=0.8, words_per_s=2.5, is_null=False) for d in np.linspace(1, 8, 200)]
    monitor = Monitor(ServerConfig(), baseline=Baseline.from_features(rows, source="bench"))
    figures: dict[str, list[float]] = {"observer_without_monitoring_us": [], "observer_with_monitoring_us": [],
                                       "handler_bare_us": [], "handler_intercepted_us": []}
    interceptor = MetricsInterceptor(monitor.registry, monitor.model_labels)  # as the server builds it
    for _ in range(args.rounds):  # alternate, so that machine noise hits both sides alike
        figures["observer_without_monitoring_us"].append(per_call_us((), batch))
        figures["observer_with_monitoring_us"].append(per_call_us((monitor.observe,), batch))
        figures["handler_bare_us"].append(interceptor_us(args.n, None))
        figures["handler_intercepted_us"].append(interceptor_us(args.n, interceptor))
    medians = {k: statistics.median(v) for k, v in figures.items()}
    clip_8s = (np.sin(np.arange(8 * 16_000) * 2 * np.pi * 140 / 16_000) * 0.1).astype(np.float32)
    started = time.perf_counter()
    for _ in range(200):
        estimate_pitch_hz(clip_8s)
    pitch_us = (time.perf_counter() - started) / 200 * 1e6
    started = time.perf_counter()
    monitor.tick()  # the first one also imports scipy.stats (once per server)
    first_tick_ms = (time.perf_counter() - started) * 1000
    ticks = []
    for _ in range(5):
        started = time.perf_counter()
        monitor.tick()
        ticks.append((time.perf_counter() - started) * 1000)
    tick_ms = statistics.median(ticks)
    overhead = (medians["observer_with_monitoring_us"] - medians["observer_without_monitoring_us"]
                + medians["handler_intercepted_us"] - medians["handler_bare_us"])
    summary = {**{k: round(v, 2) for k, v in medians.items()}, "pitch_estimate_8s_clip_us": round(pitch_us, 1),
               "monitoring_overhead_per_request_us": round(overhead + pitch_us, 1),
               "share_of_300ms_budget_pct": round((overhead + pitch_us) / 300_000 * 100, 3),
               "tick_ms_full_windows": round(tick_ms, 2), "first_tick_ms": round(first_tick_ms, 1), "n": args.n,
               "rounds": args.rounds}
    print(json.dumps(summary))
    print(f"\n{'figure':40s} {'value':>10s}")
    for key, v in summary.items():
        print(f"{key:40s} {v:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
