"""Request summaries: per-second aggregates of recent results, the one home of "how did the last N seconds go".

The alarms' rolling windows, the dashboard's series and the demo's closing summary all read them.
`add()` is O(1) (it adds to the current second's bucket); summaries are computed when asked (on the
monitor's timer, when the dashboard polls, when the demo ends), never per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from asr_service.recognizer import NullReason, RecognitionResult

__all__ = ["EMPTY_INPUT_REASONS", "RecentResults", "WindowSummary"]

EMPTY_INPUT_REASONS = (NullReason.EMPTY_AUDIO, NullReason.TOO_QUIET)


class _Second:
    """What happened in one second of wall-clock time."""

    __slots__ = (
        "audio",
        "audio_s",
        "duration_sum",
        "fallbacks",
        "inference_ms",
        "latency_ms",
        "nulls",
        "nulls_on_speech",
        "over_budget",
        "queue_ms",
        "requests",
        "rms_sum",
        "second",
    )

    def __init__(self, second: int) -> None:
        self.second = second
        self.requests = 0
        self.nulls: Counter[NullReason] = Counter()
        self.nulls_on_speech = 0  # of them, on clips the client VAD judged speech
        self.over_budget = 0
        self.fallbacks = 0
        self.audio_s = 0.0  # every clip's duration
        # Results with real input (audio, not EMPTY_AUDIO/TOO_QUIET): the volume and length means are
        # over these, so silent clips (counted among the nulls) do not drag the volume alarm along.
        self.audio = 0
        self.rms_sum = 0.0
        self.duration_sum = 0.0
        self.latency_ms: list[float] = []
        self.inference_ms: list[float] = []
        self.queue_ms: list[float] = []

    def copy(self) -> _Second:
        """A snapshot, safe to read while `add` goes on with the original."""
        other = _Second(self.second)
        for name in _Second.__slots__:
            value = getattr(self, name)
            setattr(other, name, value.copy() if isinstance(value, list | Counter) else value)
        return other


@dataclass(frozen=True, kw_only=True)
class WindowSummary:
    """Figures over a span of time. Means and percentiles are NaN when there was nothing to average."""

    start_s: float  # unix time
    span_s: float
    requests: int
    null_rate: float
    null_on_speech_rate: float  # results without text for clips the client VAD judged speech, per result
    empty_input_share: float
    budget_exceeded: int
    latency_p50_ms: float
    latency_p95_ms: float
    mean_rms_dbfs: float
    mean_duration_s: float
    null_reasons: Mapping[str, int]  # results without text, by NullReason name
    audio_s: float  # seconds of audio received
    inference_p50_ms: float
    queue_wait_p95_ms: float
    fallbacks: int  # results decoded again on the full window

    @property
    def requests_per_s(self) -> float:
        """Mean request rate over the span."""
        return self.requests / self.span_s if self.span_s > 0 else 0.0

    def to_json(self) -> dict[str, float | int | None]:
        """As the dashboard reads it (NaN becomes null)."""
        values: dict[str, float | int | None] = {
            "t": self.start_s + self.span_s,
            "requests": self.requests,
            "requests_per_s": self.requests_per_s,
            "null_rate": self.null_rate,
            "null_on_speech_rate": self.null_on_speech_rate,
            "empty_input_share": self.empty_input_share,
            "budget_exceeded": self.budget_exceeded,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "mean_rms_dbfs": self.mean_rms_dbfs,
            "mean_duration_s": self.mean_duration_s,
        }
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


class RecentResults:
    """A ring of per-second buckets over the last `capacity_s` seconds. Thread-safe."""

    def __init__(self, capacity_s: int = 1800, *, clock: Callable[[], float] = time.time,
                 null_on_speech_min_ratio: float = 0.48) -> None:
        self._buckets: deque[_Second] = deque(maxlen=capacity_s)
        self._null_on_speech_min_ratio = null_on_speech_min_ratio
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, result: RecognitionResult) -> None:
        """Record one result in the current second (the recognizer's observer)."""
        second = int(self._clock())
        with self._lock:
            if not self._buckets or self._buckets[-1].second != second:
                self._buckets.append(_Second(second))
            b = self._buckets[-1]
            b.requests += 1
            if result.null_reason is not NullReason.NONE:
                b.nulls[result.null_reason] += 1
                b.nulls_on_speech += result.null_on_speech(self._null_on_speech_min_ratio)
            b.over_budget += result.latency.budget_exceeded
            b.fallbacks += result.used_fallback
            b.audio_s += result.audio.duration_s
            if result.audio.duration_s > 0 and result.null_reason not in EMPTY_INPUT_REASONS:
                b.audio += 1
                b.rms_sum += result.audio.rms_dbfs
                b.duration_sum += result.audio.duration_s
            b.latency_ms.append(result.latency.server_total_ms)
            b.inference_ms.append(result.latency.inference_ms)
            b.queue_ms.append(result.latency.queue_wait_ms)

    def summary(self, window_s: float, *, end_s: float | None = None) -> WindowSummary:
        """Figures over the `window_s` seconds before `end_s` (default: now)."""
        end = self._clock() if end_s is None else end_s
        with self._lock:
            # Bucket `s` covers [s, s + 1): keep those that overlap (end - window_s, end], the current one included.
            chosen = [self._snapshot(b) for b in self._buckets if end - window_s < b.second + 1 and b.second <= end]
        return _summarise(chosen, end - window_s, window_s)

    def _snapshot(self, bucket: _Second) -> _Second:
        """`bucket` as it is now: only the current second's bucket still changes (under the lock)."""
        return bucket.copy() if bucket is self._buckets[-1] else bucket

    def series(self, span_s: float, step_s: float) -> list[WindowSummary]:
        """Consecutive summaries of `step_s` seconds covering the last `span_s` seconds, oldest first."""
        end = math.floor(self._clock()) + 1  # the current second included
        steps = max(1, int(span_s // step_s))
        starts = [end - (steps - i) * step_s for i in range(steps)]
        groups: list[list[_Second]] = [[] for _ in starts]
        with self._lock:
            for b in self._buckets:  # one pass: each bucket into its step
                i = math.floor((b.second - starts[0]) / step_s)
                if 0 <= i < steps:
                    groups[i].append(self._snapshot(b))
        return [_summarise(chosen, start, step_s) for chosen, start in zip(groups, starts, strict=True)]


def _percentiles(values: list[float], qs: list[float]) -> list[float]:
    """Linear-interpolated percentiles, NaN for no values."""
    return [float(v) for v in np.percentile(values, qs)] if values else [math.nan] * len(qs)


def _summarise(buckets: list[_Second], start_s: float, span_s: float) -> WindowSummary:
    requests = sum(b.requests for b in buckets)
    audio = sum(b.audio for b in buckets)
    nulls: Counter[NullReason] = Counter()
    for b in buckets:
        nulls.update(b.nulls)
    p50, p95 = _percentiles([v for b in buckets for v in b.latency_ms], [50, 95])
    empty = sum(nulls[reason] for reason in EMPTY_INPUT_REASONS)
    return WindowSummary(
        start_s=start_s,
        span_s=span_s,
        requests=requests,
        null_rate=nulls.total() / requests if requests else math.nan,
        null_on_speech_rate=sum(b.nulls_on_speech for b in buckets) / requests if requests else math.nan,
        empty_input_share=empty / requests if requests else math.nan,
        budget_exceeded=sum(b.over_budget for b in buckets),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        mean_rms_dbfs=sum(b.rms_sum for b in buckets) / audio if audio else math.nan,
        mean_duration_s=sum(b.duration_sum for b in buckets) / audio if audio else math.nan,
        null_reasons={reason.name: count for reason, count in sorted(nulls.items(), key=lambda kv: kv[0].value)},
        audio_s=sum(b.audio_s for b in buckets),
        inference_p50_ms=_percentiles([v for b in buckets for v in b.inference_ms], [50])[0],
        queue_wait_p95_ms=_percentiles([v for b in buckets for v in b.queue_ms], [95])[0],
        fallbacks=sum(b.fallbacks for b in buckets),
    )
