"""A small in-process summary of served requests, for the demo and logs (Prometheus comes on top)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from asr_service.recognizer import NullReason, RecognitionResult

__all__ = ["RequestSummary", "SummaryStats"]


@dataclass(frozen=True, kw_only=True)
class RequestSummary:
    """Figures over the requests seen so far (latency percentiles over the last `window` ones)."""

    requests: int
    null_transcripts: dict[str, int]
    budget_exceeded: int
    audio_s: float
    latency_p50_ms: float
    latency_p95_ms: float
    inference_p50_ms: float
    queue_wait_p95_ms: float
    fallbacks: int

    @property
    def null_rate(self) -> float:
        """Share of results with no text."""
        return sum(self.null_transcripts.values()) / self.requests if self.requests else 0.0


class SummaryStats:
    """Observer of recognition results: counts and recent latencies. Thread-safe."""

    def __init__(self, window: int = 1000) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._nulls: Counter[str] = Counter()
        self._over_budget = 0
        self._audio_s = 0.0
        self._fallbacks = 0
        self._total_ms: deque[float] = deque(maxlen=window)
        self._inference_ms: deque[float] = deque(maxlen=window)
        self._queue_ms: deque[float] = deque(maxlen=window)

    def __call__(self, result: RecognitionResult) -> None:
        """Record one result."""
        with self._lock:
            self._requests += 1
            if result.null_reason is not NullReason.NONE:
                self._nulls[result.null_reason.name] += 1
            self._over_budget += result.latency.budget_exceeded
            self._audio_s += result.audio.duration_s
            self._fallbacks += result.used_fallback
            self._total_ms.append(result.latency.server_total_ms)
            self._inference_ms.append(result.latency.inference_ms)
            self._queue_ms.append(result.latency.queue_wait_ms)

    def summary(self) -> RequestSummary:
        """The figures so far."""
        with self._lock:
            return RequestSummary(
                requests=self._requests,
                null_transcripts=dict(self._nulls),
                budget_exceeded=self._over_budget,
                audio_s=self._audio_s,
                latency_p50_ms=_pct(self._total_ms, 50),
                latency_p95_ms=_pct(self._total_ms, 95),
                inference_p50_ms=_pct(self._inference_ms, 50),
                queue_wait_p95_ms=_pct(self._queue_ms, 95),
                fallbacks=self._fallbacks,
            )


def _pct(values: deque[float], q: float) -> float:
    return float(np.percentile(np.fromiter(values, dtype=np.float64), q)) if values else 0.0
