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
from dataclasses import dataclass, field

import numpy as np

from asr_service.recognizer import NullReason, RecognitionResult

__all__ = ["EMPTY_INPUT_REASONS", "RecentResults", "WindowSummary"]

EMPTY_INPUT_REASONS = (NullReason.EMPTY_AUDIO, NullReason.TOO_QUIET)


class _Second:
    """What happened in one second of wall-clock time."""

    __slots__ = (
        "audio",
        "audio_s",
        "confidence_sum",
        "duration_sum",
        "fallbacks",
        "feedback",
        "inference_ms",
        "judged_latency_ms",
        "latency_ms",
        "low_confidence",
        "nulls",
        "nulls_on_speech",
        "over_budget",
        "pitch_n",
        "pitch_sum",
        "queue_ms",
        "requests",
        "rms_sum",
        "second",
        "speech_ratio_n",
        "speech_ratio_sum",
        "texts",
        "words_per_s_sum",
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
        self.judged_latency_ms: list[float] = []  # clips the latency alarm judges (not longer than its bound)
        self.inference_ms: list[float] = []
        self.queue_ms: list[float] = []
        # results with text: the model-output signals
        self.texts = 0
        self.confidence_sum = 0.0
        self.low_confidence = 0
        self.words_per_s_sum = 0.0
        self.speech_ratio_n = 0  # clips with client VAD stats
        self.speech_ratio_sum = 0.0
        self.pitch_n = 0  # clips with a voice pitch
        self.pitch_sum = 0.0
        self.feedback: Counter[str] = Counter()  # users' feedback on results, by action

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
    judged_requests: int = 0  # clips the latency alarm judges (not longer than its clip bound)
    judged_latency_p95_ms: float = math.nan
    texts: int = 0  # results with text
    mean_confidence: float = math.nan
    low_confidence_share: float = math.nan  # of results with text, under the low-confidence cut
    mean_words_per_s: float = math.nan
    mean_speech_ratio: float = math.nan  # client VAD
    mean_pitch_hz: float = math.nan
    feedback: Mapping[str, int] = field(default_factory=dict)  # users' feedback reports, by action

    @property
    def feedback_reports(self) -> int:
        """Feedback reports of every kind."""
        return sum(self.feedback.values())

    def feedback_share(self, action: str) -> float:
        """Share of the feedback reports that were `action` (NaN without any)."""
        total = self.feedback_reports
        return self.feedback.get(action, 0) / total if total else math.nan

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
            "judged_requests": self.judged_requests,
            "judged_latency_p95_ms": self.judged_latency_p95_ms,
            "texts": self.texts,
            "mean_confidence": self.mean_confidence,
            "low_confidence_share": self.low_confidence_share,
            "mean_words_per_s": self.mean_words_per_s,
            "mean_speech_ratio": self.mean_speech_ratio,
            "mean_pitch_hz": self.mean_pitch_hz,
            "feedback_reports": self.feedback_reports,
            "feedback_retried_share": self.feedback_share("retried"),
            "feedback_switched_to_typing_share": self.feedback_share("switched_to_typing"),
            "feedback_edited_share": self.feedback_share("edited"),
        }
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


class RecentResults:
    """A ring of per-second buckets over the last `capacity_s` seconds. Thread-safe.

    `latency_max_clip_s`: the clips the judged latency percentile covers; `low_confidence`: the
    confidence under which a result with text counts as low (None: never).
    """

    def __init__(self, capacity_s: int = 1800, *, clock: Callable[[], float] = time.time,
                 null_on_speech_min_ratio: float = 0.53, latency_max_clip_s: float = math.inf,
                 low_confidence: float | None = None) -> None:
        self._buckets: deque[_Second] = deque(maxlen=capacity_s)
        self._null_on_speech_min_ratio = null_on_speech_min_ratio
        self._latency_max_clip_s = latency_max_clip_s
        self._low_confidence = -math.inf if low_confidence is None else low_confidence
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
            else:
                b.texts += 1
                b.confidence_sum += result.confidence
                b.low_confidence += result.confidence < self._low_confidence
                if result.audio.duration_s > 0:
                    b.words_per_s_sum += len(result.text.split()) / result.audio.duration_s
            if result.vad is not None:
                b.speech_ratio_n += 1
                b.speech_ratio_sum += result.vad.speech_ratio
            if result.audio.pitch_hz is not None:
                b.pitch_n += 1
                b.pitch_sum += result.audio.pitch_hz
            b.over_budget += result.latency.budget_exceeded
            b.fallbacks += result.used_fallback
            b.audio_s += result.audio.duration_s
            if result.audio.duration_s > 0 and result.null_reason not in EMPTY_INPUT_REASONS:
                b.audio += 1
                b.rms_sum += result.audio.rms_dbfs
                b.duration_sum += result.audio.duration_s
            b.latency_ms.append(result.latency.server_total_ms)
            if result.audio.duration_s <= self._latency_max_clip_s:
                b.judged_latency_ms.append(result.latency.server_total_ms)
            b.inference_ms.append(result.latency.inference_ms)
            b.queue_ms.append(result.latency.queue_wait_ms)

    def add_feedback(self, action: str) -> None:
        """Record one user feedback report in the current second."""
        second = int(self._clock())
        with self._lock:
            if not self._buckets or self._buckets[-1].second != second:
                self._buckets.append(_Second(second))
            self._buckets[-1].feedback[action] += 1

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
    judged = [v for b in buckets for v in b.judged_latency_ms]
    texts = sum(b.texts for b in buckets)
    speech_n, pitch_n = sum(b.speech_ratio_n for b in buckets), sum(b.pitch_n for b in buckets)
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
        judged_requests=len(judged),
        judged_latency_p95_ms=_percentiles(judged, [95])[0],
        texts=texts,
        mean_confidence=sum(b.confidence_sum for b in buckets) / texts if texts else math.nan,
        low_confidence_share=sum(b.low_confidence for b in buckets) / texts if texts else math.nan,
        mean_words_per_s=sum(b.words_per_s_sum for b in buckets) / texts if texts else math.nan,
        mean_speech_ratio=sum(b.speech_ratio_sum for b in buckets) / speech_n if speech_n else math.nan,
        mean_pitch_hz=sum(b.pitch_sum for b in buckets) / pitch_n if pitch_n else math.nan,
        feedback=dict(sum((b.feedback for b in buckets), Counter())),
    )
