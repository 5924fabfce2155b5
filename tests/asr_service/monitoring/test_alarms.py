"""Alarms fire and clear with hysteresis over rolling windows, visible in /metrics, JSON and one log line each."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import generate_latest

from asr_service.config import MonitoringOptions, ServerConfig
from asr_service.monitoring import Monitor
from asr_service.recognizer import NullReason
from tests.fakes import FAKE_INFO, FakeClock, recognition_result


class Cpu:
    def __init__(self) -> None:
        self.busy = self.total = 0.0

    def __call__(self) -> tuple[float, float]:
        return self.busy, self.total


class LoadedModel:
    """What the monitor reads of a recognizer: its model and role (alarm series carry both)."""

    info = FAKE_INFO
    role = "primary"
    in_flight = 0


def monitor(clock: FakeClock, cpu: Cpu | None = None, **options: object) -> Monitor:
    """A monitor with fixed limits and no hold time unless `options` say otherwise."""
    settings = {"window_s": 60.0, "alarm_min_requests": 20, "alarm_null_rate_max": 0.05, "alarm_hold_s": 0.0,
                **options}
    config = ServerConfig(monitoring=MonitoringOptions(**settings))  # type: ignore[arg-type]
    m = Monitor(config, clock=clock, read_cpu=cpu or Cpu(), read_host_cpu=Cpu())
    m.attach(lambda: [LoadedModel()])  # type: ignore[list-item]
    return m


def gauge(m: Monitor, alarm: str) -> float:
    line = f'asr_alarm_active{{alarm="{alarm}",model_version="fake-1",role="primary"}}'
    for text in generate_latest(m.registry).decode().splitlines():
        if text.startswith(line):
            return float(text.split()[-1])
    raise AssertionError(f"no {line}")


def test_null_rate_fires_holds_and_clears_with_hysteresis(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    m = monitor(clock)
    caplog.set_level(logging.INFO, logger="asr_service.monitoring._alarms")
    for _ in range(19):
        m.observe(recognition_result(null=NullReason.NO_SPEECH))
    assert m.tick() == [] and gauge(m, "null_rate") == 0  # 19 < alarm_min_requests: no verdict
    for i in range(81):
        m.observe(recognition_result(null=NullReason.NO_SPEECH if i < 1 else NullReason.NONE))
    assert m.tick() == ["null_rate"]  # 20 nulls / 100 = 0.2 > 0.05
    assert gauge(m, "null_rate") == 1 and m.alarms.active() == ["null_rate"]
    state = next(a for a in m.alarms.to_json()["alarms"] if a["alarm"] == "null_rate")
    assert state["active"] and state["value"] == pytest.approx(0.2) and state["fire_at"] == 0.05
    # One minute later: 4.5 % nulls, under the threshold but above clear_at (0.04): still firing.
    clock.now += 61
    for i in range(200):
        m.observe(recognition_result(null=NullReason.NO_SPEECH if i < 9 else NullReason.NONE))
    assert m.tick() == [] and m.alarms.active() == ["null_rate"]
    # Another minute: 3 % < 0.04 clears it.
    clock.now += 61
    for i in range(100):
        m.observe(recognition_result(null=NullReason.NO_SPEECH if i < 3 else NullReason.NONE))
    assert m.tick() == ["null_rate"] and gauge(m, "null_rate") == 0
    lines = [r.getMessage() for r in caplog.records if "null_rate" in r.getMessage()]
    assert len(lines) == 2
    assert lines[0].startswith("alarm null_rate FIRING: share of results without text = 0.2 > 0.05")
    assert lines[1].startswith("alarm null_rate cleared: share of results without text = 0.03 < 0.04")
    assert [e["active"] for e in m.alarms.to_json()["events"]] == [True, False]


def test_latency_volume_and_empty_input_alarms() -> None:
    clock = FakeClock()
    m = monitor(clock)
    for _ in range(30):
        m.observe(recognition_result(total_ms=450.0, rms_dbfs=-50.0))
    for _ in range(3):
        m.observe(recognition_result(null=NullReason.EMPTY_AUDIO, duration_s=0.0))
    assert sorted(m.tick()) == ["empty_input", "input_volume_low", "latency_p95", "null_rate"]
    clock.now += 61
    for _ in range(100):
        m.observe(recognition_result(total_ms=120.0, rms_dbfs=-2.0))
    assert sorted(m.tick()) == ["empty_input", "input_volume_high", "input_volume_low", "latency_p95", "null_rate"]
    assert m.alarms.active() == ["input_volume_high"]
    clock.now += 61
    for _ in range(100):
        m.observe(recognition_result(rms_dbfs=-7.0))  # inside the band, but within 3 dB of -6: stays firing
    assert m.tick() == [] and m.alarms.active() == ["input_volume_high"]
    clock.now += 61
    for _ in range(100):
        m.observe(recognition_result(rms_dbfs=-20.0))
    assert m.tick() == ["input_volume_high"] and m.alarms.active() == []


def test_server_load_alarm_from_the_cpu_counters() -> None:
    clock, cpu = FakeClock(), Cpu()
    m = monitor(clock, cpu)
    m.tick()  # first sample
    cpu.busy, cpu.total = 95.0, 100.0
    assert m.tick() == ["server_load"] and m.load.value() == pytest.approx(0.95)
    cpu.busy, cpu.total = 95.0 + 80.0, 200.0  # the window now spans both: 175/200 = 0.875 > 0.728
    assert m.tick() == [] and m.alarms.active() == ["server_load"]


def test_silent_clips_count_as_empty_input_not_as_low_volume() -> None:
    from asr_service.monitoring import RecentResults

    clock = FakeClock()
    recent = RecentResults(clock=clock)
    for _ in range(19):
        recent.add(recognition_result(rms_dbfs=-25.0))
    recent.add(recognition_result(null=NullReason.TOO_QUIET, rms_dbfs=-120.0, duration_s=0.5))
    window = recent.summary(60.0)
    assert window.requests == 20
    assert window.empty_input_share == pytest.approx(0.05)
    assert window.mean_rms_dbfs == pytest.approx(-25.0)  # the silent clip does not drag the mean down
    assert window.mean_duration_s == pytest.approx(2.0)
