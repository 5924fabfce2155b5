"""Alarm limits derived from the baseline, the hold time, NO DATA, the traffic alarm, the latency clip
bound, the model-output alarms, the process's own CPU share, and small-baseline warnings."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import generate_latest

from asr_service.config import MonitoringOptions, ServerConfig
from asr_service.cores import usable_cores, usable_cpu
from asr_service.monitoring import Baseline, ClipFeatures, Monitor, alarm_rules
from asr_service.monitoring._system import CpuLoad, read_process_cpu
from asr_service.recognizer import NullReason
from tests.fakes import FAKE_INFO, FakeClock, recognition_result


class LoadedModel:
    info = FAKE_INFO
    role = "primary"
    in_flight = 0


def make_monitor(clock: FakeClock, baseline: Baseline | None = None, **options: object) -> Monitor:
    settings = {"window_s": 60.0, "alarm_min_requests": 20, "alarm_hold_s": 0.0, **options}
    config = ServerConfig(monitoring=MonitoringOptions(**settings))  # type: ignore[arg-type]
    m = Monitor(config, baseline=baseline, clock=clock, read_cpu=lambda: (0.0, 0.0), read_host_cpu=lambda: (0.0, 0.0))
    m.attach(lambda: [LoadedModel()])  # type: ignore[list-item]
    return m


def state(m: Monitor, name: str) -> dict[str, object]:
    return next(a for a in m.alarms.to_json()["alarms"] if a["alarm"] == name)


def baseline(clips: int, *, nulls: int = 0, confidence: tuple[float, float] | None = None, seed: int = 0) -> Baseline:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(clips):
        conf = float(np.clip(rng.normal(*confidence), 0.01, 0.99)) if confidence and i >= nulls else None
        rows.append(ClipFeatures(duration_s=2.0, rms_dbfs=-25.0, pitch_hz=None, speech_ratio=0.7, padding_s=0.6,
                                 confidence=conf, words_per_s=2.0 if i >= nulls else None, is_null=i < nulls))
    return Baseline.from_features(rows, source="test")


def feed(m: Monitor, n: int, *, nulls: int = 0, confidence: float = 0.9, **kwargs: float) -> None:
    for i in range(n):
        result = recognition_result(null=NullReason.NO_SPEECH if i < nulls else NullReason.NONE, **kwargs)
        m.observe(dataclasses.replace(result, confidence=confidence))


def test_null_rate_limit_comes_from_the_baseline_and_widens_for_small_windows() -> None:
    rules = {r.name: r for r in alarm_rules(ServerConfig(), baseline(400, nulls=20)).rules}
    null_rate = rules["null_rate"]
    fire_20, _ = null_rate.limits(20)
    fire_500, clear_500 = null_rate.limits(500)
    base = (20 + 0.5) / 401
    assert null_rate.fire_at == pytest.approx(base)
    assert fire_20 > fire_500 > clear_500 > base  # 20 results need a wider margin than 500
    se_500 = math.sqrt(base * (1 - base) * (1 / 500 + 1 / 400))
    assert fire_500 == pytest.approx(base + 3.5 * se_500)  # alarm_margin_z standard errors
    # The same 12 % null rate: under the limit for 25 results, FIRING for 500.
    small = make_monitor(FakeClock(), baseline(400, nulls=20))
    large = make_monitor(FakeClock(), baseline(400, nulls=20))
    feed(small, 25, nulls=3)
    feed(large, 500, nulls=60)
    assert "null_rate" not in small.tick() and "null_rate" in large.tick()
    # A rate at the baseline's own (5 %) never fires, however large the window.
    normal = make_monitor(FakeClock(), baseline(400, nulls=20))
    feed(normal, 1000, nulls=50)
    assert "null_rate" not in normal.tick() and state(normal, "null_rate")["status"] == "ok"


def test_without_a_baseline_the_null_rate_limit_is_the_shared_speech_tune_split() -> None:
    rules = {r.name: r for r in alarm_rules(ServerConfig(), None).rules}
    assert "low_confidence" not in rules and "mean_confidence" not in rules  # need a model baseline
    fire_100, _ = rules["null_rate"].limits(100)
    assert 0.02 < fire_100 < 0.2
    fixed = {r.name: r for r in alarm_rules(ServerConfig(monitoring=MonitoringOptions(alarm_null_rate_max=0.3)),
                                            baseline(400, nulls=20)).rules}
    assert fixed["null_rate"].limits(20) == fixed["null_rate"].limits(5000) == (0.3, pytest.approx(0.24))


def test_a_change_of_state_waits_for_the_hold_time() -> None:
    clock = FakeClock()
    m = make_monitor(clock, alarm_hold_s=10.0, alarm_null_rate_max=0.05, interval_s=2.0, window_s=1.0)

    def tick_with(nulls: int) -> list[str]:
        clock.now += 2
        feed(m, 40, nulls=nulls)
        return m.tick()

    assert tick_with(20) == [] and state(m, "null_rate")["pending_since"] is not None  # one bad window: pending
    assert tick_with(0) == [] and state(m, "null_rate")["pending_since"] is None  # back to normal: forgotten
    fired = [tick_with(20) for _ in range(7)]
    assert fired[:5] == [[]] * 5 and "null_rate" in fired[5]  # held for 10 s: FIRING (6th bad tick)
    cleared = [tick_with(0) for _ in range(7)]
    assert "null_rate" in [name for names in cleared for name in names]
    assert cleared[0] == [] and m.alarms.active() == []


def test_an_alarm_without_data_says_so_and_the_traffic_alarm_fires(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    m = make_monitor(clock, alarm_null_rate_max=0.05)
    assert state(m, "null_rate")["status"] == "no_data"  # before any traffic
    feed(m, 30, total_ms=900.0)
    assert "latency_p95" in m.tick()
    caplog.set_level(logging.INFO, logger="asr_service.monitoring._alarms")
    clock.now += 120  # traffic stops
    assert m.tick() == ["latency_p95", "no_traffic"]
    assert state(m, "latency_p95")["status"] == "no_data" and state(m, "latency_p95")["value"] is None
    assert state(m, "no_traffic")["status"] == "firing"
    assert m.alarms.active() == ["no_traffic"]
    assert "latency_p95" in m.alarms.to_json()["no_data"]
    metrics = generate_latest(m.registry).decode()
    assert 'asr_alarm_no_data{alarm="latency_p95",model_version="fake-1",role="primary"} 1.0' in metrics
    assert 'asr_alarm_active{alarm="latency_p95",model_version="fake-1",role="primary"} 0.0' in metrics
    messages = [r.getMessage() for r in caplog.records]
    assert any(msg.startswith("alarm latency_p95: no data, was firing") for msg in messages)
    assert any(msg.startswith("alarm no_traffic FIRING") for msg in messages)
    clock.now += 2000  # long past the lookback: no traffic is the normal state now, not an alarm
    assert m.tick() == ["no_traffic"] and state(m, "no_traffic")["status"] == "no_data"
    feed(m, 1)
    m.tick()
    assert state(m, "no_traffic")["status"] == "ok"


def test_latency_is_judged_on_the_clips_the_budget_is_for() -> None:
    clock = FakeClock()
    m = make_monitor(clock, alarm_latency_max_clip_s=12.0)
    feed(m, 30, total_ms=100.0, duration_s=3.0)
    feed(m, 10, total_ms=900.0, duration_s=25.0)  # long clips: slow, and not what the budget is for
    assert m.tick() == []
    latency = state(m, "latency_p95")
    assert latency["status"] == "ok" and latency["count"] == 30
    assert "30 clips of <= 12 s (10 longer not judged)" in str(latency["detail"])
    window = m.recent.summary(60.0)
    assert window.latency_p95_ms > 300 > window.judged_latency_p95_ms
    clock.now += 61
    feed(m, 30, total_ms=450.0, duration_s=8.0)
    assert m.tick() == ["latency_p95"]
    clock.now += 61
    feed(m, 10, total_ms=450.0, duration_s=8.0)  # under alarm_min_requests: no verdict, not a stuck FIRING
    m.tick()
    assert state(m, "latency_p95")["status"] == "no_data"


def test_confidence_alarms_with_a_model_baseline() -> None:
    clock = FakeClock()
    m = make_monitor(clock, baseline(300, confidence=(0.6, 0.1)))
    rules = {s.rule.name: s.rule for s in m.alarms.states()}
    assert {"low_confidence", "mean_confidence"} <= set(rules)
    feed(m, 150, confidence=0.6)
    assert [name for name in m.tick() if not name.startswith("drift_")] == []  # (150 equal values do drift)
    assert state(m, "mean_confidence")["status"] == "ok"
    clock.now += 61
    feed(m, 150, confidence=0.45)  # every result under the baseline's 10th percentile (~0.47)
    assert sorted(n for n in m.tick() if not n.startswith("drift_")) == ["low_confidence", "mean_confidence"]
    window = m.recent.summary(60.0)
    assert window.low_confidence_share == 1.0 and window.mean_confidence == pytest.approx(0.45)


def test_server_load_is_the_process_share_of_its_cores(tmp_path: Path) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text("50000 100000\n")  # half a core
    assert usable_cpu(str(quota)) == 0.5 and usable_cores(str(quota)) == 1  # threads: whole cores, at least one
    quota.write_text("150000 100000\n")
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpu(str(quota)) == min(1.5, affinity) and usable_cores(str(quota)) == min(2, affinity)
    quota.write_text("max 100000\n")
    assert usable_cpu(str(quota)) == usable_cpu(str(tmp_path / "absent")) == usable_cores(str(quota))
    load = CpuLoad(60.0, read=lambda: read_process_cpu(1.0))
    load.sample()
    assert not load.ready
    x = 0
    for i in range(3_000_000):  # busy on one core for a while
        x += i
    load.sample()
    assert load.ready and 0.3 < load.value() <= 1.0
    # The alarm has no data until two readings exist (it used to read 0, or the host's load).
    clock = FakeClock()
    m = make_monitor(clock)
    assert state(m, "server_load")["status"] == "no_data"


def test_a_small_baseline_is_flagged_when_built_and_when_loaded(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    small = baseline(30)
    assert small.warnings and "only 30 clips" in small.warnings[0]
    assert not baseline(150).warnings
    path = tmp_path / "b.json"
    small.save(path)
    assert json.loads(path.read_text())["warnings"] == small.warnings
    data = json.loads(path.read_text())
    del data["warnings"]  # a file from before warnings were recorded
    path.write_text(json.dumps(data))
    caplog.set_level(logging.WARNING)
    make_monitor(FakeClock(), Baseline.load(path))
    assert any("only 30 clips" in r.getMessage() for r in caplog.records)


def test_every_monitoring_key_is_documented() -> None:
    from tests.paths import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "monitoring.md").read_text()
    missing = [f.name for f in dataclasses.fields(MonitoringOptions) if f"`{f.name}`" not in doc]
    assert missing == []


def test_feedback_alarms_are_judged_against_the_servers_earlier_traffic() -> None:
    clock = FakeClock()
    m = make_monitor(clock, alarm_no_traffic_lookback_s=600.0)
    assert state(m, "feedback_retried")["status"] == "no_data"
    for _ in range(9):  # nine normal minutes: 1 in 10 users speaks again
        clock.now += 61
        feed(m, 40)
        for i in range(40):
            m.observe_feedback("retried" if i % 10 == 0 else "accepted", "fake-1", "primary")
        m.tick()
    assert state(m, "feedback_retried")["status"] == "ok"
    assert state(m, "feedback_retried")["reference"]["count"] >= 300  # type: ignore[index]
    clock.now += 61  # a bad release: 4 in 10 speak again, 2 in 10 give up and type
    feed(m, 40)
    for i in range(40):
        m.observe_feedback("retried" if i % 10 < 4 else "switched_to_typing" if i % 10 < 6 else "accepted",
                           "fake-1", "primary")
    assert sorted(m.tick()) == ["feedback_retried", "feedback_switched_to_typing"]
    window = m.recent.summary(60.0)
    assert window.feedback_share("retried") == pytest.approx(0.4) and window.feedback_reports == 40
    metrics = generate_latest(m.registry).decode()
    assert 'asr_feedback_total{action="retried",model_version="fake-1",role="primary"} 52.0' in metrics
