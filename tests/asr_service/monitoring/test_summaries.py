"""Request summaries: what a window of results adds up to, by second, with percentiles over the window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asr_service.monitoring import RecentResults
from asr_service.recognizer import NullReason
from tests.fakes import FakeClock, recognition_result


def test_a_window_counts_null_reasons_fallbacks_and_audio() -> None:
    clock = FakeClock(1_700_000_000.25)
    recent = RecentResults(clock=clock)
    for _ in range(6):
        recent.add(recognition_result(duration_s=3.0))
    recent.add(recognition_result(duration_s=4.0, used_fallback=True))
    recent.add(recognition_result(null=NullReason.NO_SPEECH, duration_s=1.5))
    recent.add(recognition_result(null=NullReason.HALLUCINATION_SUPPRESSED, duration_s=2.0, used_fallback=True))
    recent.add(recognition_result(null=NullReason.TOO_QUIET, rms_dbfs=-70.0, duration_s=0.5))
    recent.add(recognition_result(null=NullReason.TOO_QUIET, rms_dbfs=-72.0, duration_s=0.5))
    recent.add(recognition_result(null=NullReason.EMPTY_AUDIO, duration_s=0.0))

    s = recent.summary(60.0)
    assert s.requests == 12
    assert dict(s.null_reasons) == {"EMPTY_AUDIO": 1, "TOO_QUIET": 2, "NO_SPEECH": 1, "HALLUCINATION_SUPPRESSED": 1}
    assert list(s.null_reasons) == ["EMPTY_AUDIO", "TOO_QUIET", "NO_SPEECH", "HALLUCINATION_SUPPRESSED"]
    assert s.null_rate == pytest.approx(5 / 12)
    assert s.empty_input_share == pytest.approx(3 / 12)  # EMPTY_AUDIO and TOO_QUIET only
    assert s.fallbacks == 2
    assert s.audio_s == pytest.approx(6 * 3.0 + 4.0 + 1.5 + 2.0 + 0.5 + 0.5)  # every clip, silent ones too
    # the means are over clips with real input: the quiet and empty ones do not drag them down
    assert s.mean_duration_s == pytest.approx((6 * 3.0 + 4.0 + 1.5 + 2.0) / 9)
    assert s.mean_rms_dbfs == pytest.approx(-25.0)


def test_percentiles_are_over_every_result_of_the_window() -> None:
    clock = FakeClock(1_700_000_000.25)
    recent = RecentResults(clock=clock)
    totals = [80.0, 95.0, 110.0, 120.0, 135.0, 150.0, 180.0, 210.0, 260.0, 420.0]
    for i, total in enumerate(totals):
        clock.now += 0.5  # spread over several seconds: percentiles merge the buckets' raw values
        recent.add(recognition_result(total_ms=total, inference_ms=total - 20.0, queue_wait_ms=float(i)))
    s = recent.summary(60.0)
    assert s.latency_p50_ms == pytest.approx(float(np.percentile(totals, 50)))
    assert s.latency_p95_ms == pytest.approx(float(np.percentile(totals, 95)))
    assert s.inference_p50_ms == pytest.approx(float(np.percentile(totals, 50)) - 20.0)
    assert s.queue_wait_p95_ms == pytest.approx(float(np.percentile(range(10), 95)))
    assert s.budget_exceeded == 1  # 420 ms against the 300 ms budget


def test_results_older_than_the_window_are_left_out() -> None:
    clock = FakeClock(1_700_000_000.25)
    recent = RecentResults(clock=clock)
    recent.add(recognition_result(null=NullReason.NO_SPEECH, total_ms=900.0))
    clock.now += 120.0
    for _ in range(4):
        recent.add(recognition_result(total_ms=100.0))
    s = recent.summary(60.0)
    assert s.requests == 4 and s.null_rate == 0.0 and s.latency_p95_ms == pytest.approx(100.0)
    assert s.requests_per_s == pytest.approx(4 / 60.0)
    assert recent.summary(300.0).requests == 5


def test_an_empty_window_is_nan_in_python_and_null_in_json() -> None:
    s = RecentResults(clock=FakeClock(1_700_000_000.25)).summary(60.0)
    assert s.requests == 0 and s.fallbacks == 0 and s.audio_s == 0.0 and dict(s.null_reasons) == {}
    assert math.isnan(s.null_rate) and math.isnan(s.latency_p50_ms) and math.isnan(s.inference_p50_ms)
    as_json = s.to_json()
    assert as_json["requests"] == 0 and as_json["null_rate"] is None and as_json["latency_p95_ms"] is None


def test_a_series_puts_each_result_in_its_step() -> None:
    clock = FakeClock(1_700_000_000.25)
    recent = RecentResults(clock=clock)
    for step in range(3):  # 1, 2 and 3 results in three consecutive 10 s steps
        for _ in range(step + 1):
            recent.add(recognition_result())
        clock.now += 10.0
    clock.now -= 10.0
    series = recent.series(span_s=30.0, step_s=10.0)
    assert [p.requests for p in series] == [1, 2, 3]
    assert all(p.span_s == 10.0 for p in series)
    assert series[-1].start_s + series[-1].span_s > clock.now  # the current second is in the last step
