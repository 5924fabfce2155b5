"""The dashboard in headless Chromium (through chromedriver's W3C WebDriver API, plain HTTP), with real traffic:
first with no traffic (every panel and result alarm says "no data"), then after real speech."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

import vad
from asr_service.client import LocalTranscriber, ReplayOptions, manifest_clips, replay
from asr_service.config import MonitoringOptions, ServerConfig
from asr_service.monitoring import Baseline, features_of_result
from asr_service.server import BackgroundServer
from tests.asr_service.monitoring.probes import get_json
from tests.browser import WebDriver

pytestmark = [pytest.mark.browser, pytest.mark.shared_data, pytest.mark.slow]
PANELS = ("plot-latency", "plot-rps", "plot-null", "plot-confidence", "plot-volume", "plot-duration", "plot-speech",
          "plot-pitch", "plot-wps")
EVERY_PANEL = (*PANELS, "plot-feedback")  # no feedback is reported here: that panel stays "no data"
BANDED = ("plot-confidence", "plot-volume", "plot-duration", "plot-speech", "plot-pitch", "plot-wps")
PANEL_STATE = ("return Object.fromEntries([...document.querySelectorAll('.card[id^=plot-]')].map(c => [c.id, "
               "{points: Number(c.getAttribute('data-points')), state: c.getAttribute('data-state'), "
               "lines: c.getAttribute('data-lines'), band: c.getAttribute('data-band'), "
               "canvases: c.querySelectorAll('canvas').length, "
               "legend: [...c.querySelectorAll('.u-legend .u-label')].map(l => l.textContent)}]))")


def wait_for(browser: WebDriver, check: Any, timeout_s: float = 30) -> dict[str, Any]:
    state: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = browser.script(PANEL_STATE)
        if state and check(state):
            break
        time.sleep(0.5)
    return state


def test_dashboard_draws_real_traffic_with_uplot(shared_speech: Path, tmp_path: Path, browser: WebDriver) -> None:
    clips = [clip for _, clip in manifest_clips(shared_speech / "manifest.jsonl", vad.VadOptions())]
    baseline = tmp_path / "baseline.json"
    transcriber = LocalTranscriber(pitch=True)
    try:  # a baseline with the model's features, from half of the clips
        rows = [features_of_result(transcriber.recognize_clip(c)) for c in clips[0::2][:40]]
    finally:
        transcriber.close()
    Baseline.from_features(rows, source="half").save(baseline)
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0,
                          monitoring=MonitoringOptions(interval_s=0.5, alarm_hold_s=0.0, baseline_path=str(baseline)))
    server = BackgroundServer(config).start()  # the real engine (embedded tiny.en)
    try:
        port = server.server.monitor.http_port
        url = f"http://127.0.0.1:{port}/?span_s=60&step_s=1&refresh_ms=500"
        browser.get(url)
        idle = wait_for(browser, lambda s: len(s) == len(EVERY_PANEL))
        assert set(idle) == set(EVERY_PANEL)
        assert all(p["state"] == "no-data" and p["points"] == 0 and p["canvases"] >= 1 for p in idle.values()), idle
        statuses = browser.script("return Object.fromEntries([...document.querySelectorAll('#alarms li')]"
                                  ".map(li => [li.getAttribute('data-alarm'), li.getAttribute('data-status')]))")
        assert statuses["null_rate"] == statuses["latency_p95"] == statuses["mean_confidence"] == "no_data"
        if os.environ.get("ASR_DASHBOARD_SCREENSHOT"):
            Path(os.environ["ASR_DASHBOARD_SCREENSHOT"]).with_suffix(".idle.png").write_bytes(browser.screenshot())

        short = [c for c in clips[1::2] if c.duration_s <= 4.0][:24]
        summary = replay("", server.target, ReplayOptions(rate_qps=4.0, concurrency=1), clips=short)
        assert summary.answered == len(short) == 24
        deadline = time.monotonic() + 30
        while "24 requests" not in browser.script("return document.getElementById('meta').textContent"):
            assert time.monotonic() < deadline, "the page never showed the 24 requests"
            time.sleep(0.5)
        panels = wait_for(browser, lambda s: all(s.get(p, {}).get("state") == "data" for p in PANELS))
        assert all(panels[p]["state"] == "data" and panels[p]["points"] > 0 for p in PANELS), panels
        assert panels["plot-feedback"]["state"] == "no-data"
        assert panels["plot-latency"]["points"] >= 6  # three series over at least two seconds of traffic
        assert "budget" in panels["plot-latency"]["lines"]
        assert "limit" in panels["plot-volume"]["lines"]  # the volume alarms' limits, now that they have data
        assert all(panels[p]["band"] for p in BANDED), {p: panels[p]["band"] for p in BANDED}
        assert panels["plot-latency"]["legend"][1:] == ["p50, all clips", "p95, all clips",
                                                         "p95, clips the budget is for"]
        meta = browser.script("return document.getElementById('meta').textContent")
        assert "24 requests" in meta and "tiny.en" in meta
        statuses = browser.script("return Object.fromEntries([...document.querySelectorAll('#alarms li')]"
                                  ".map(li => [li.getAttribute('data-alarm'), li.getAttribute('data-status')]))")
        assert statuses["latency_p95"] in ("ok", "firing") and statuses["null_rate"] in ("ok", "firing")
        series = get_json(port, "/api/timeseries?span_s=60&step_s=60")
        assert series["points"][-1]["requests"] == 24
        assert set(series["baseline"]) >= {"confidence", "words_per_s", "pitch_hz", "speech_ratio", "null_rate"}
        assert not browser.script("return document.body.getAttribute('data-error')")
        png = browser.screenshot()
        assert png.startswith(b"\x89PNG")
        (tmp_path / "dashboard.png").write_bytes(png)
        if os.environ.get("ASR_DASHBOARD_SCREENSHOT"):
            Path(os.environ["ASR_DASHBOARD_SCREENSHOT"]).write_bytes(png)
    finally:
        server.stop(0.5)
