"""The dashboard in headless Chromium (through chromedriver's W3C WebDriver API, plain HTTP), with real traffic."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import vad
from asr_service.client import ReplayOptions, features_of_clip, manifest_clips, replay
from asr_service.config import MonitoringOptions, ServerConfig
from asr_service.monitoring import Baseline
from asr_service.server import BackgroundServer
from tests.asr_service.monitoring.probes import get_json
from tests.browser import WebDriver

pytestmark = [pytest.mark.browser, pytest.mark.shared_data, pytest.mark.slow]
PLOTS = ("plot-latency", "plot-rps", "plot-null", "plot-volume", "plot-duration")


def test_dashboard_plots_real_traffic(shared_speech: Path, tmp_path: Path, browser: WebDriver) -> None:
    clips = [clip for _, clip in manifest_clips(shared_speech / "manifest.jsonl", vad.VadOptions())]
    baseline = tmp_path / "baseline.json"
    Baseline.from_features([features_of_clip(c) for c in clips[0::2]], source="half").save(baseline)
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0,
                          monitoring=MonitoringOptions(interval_s=0.5, baseline_path=str(baseline)))
    server = BackgroundServer(config).start()  # the real engine (embedded tiny.en)
    try:
        port = server.server.monitor.http_port
        short = [c for c in clips[1::2] if c.duration_s <= 4.0][:14]
        summary = replay("", server.target, ReplayOptions(rate_qps=4.0, concurrency=1), clips=short)
        assert summary.answered == len(short) == 14
        browser.get(f"http://127.0.0.1:{port}/?span_s=60&step_s=1&refresh_ms=500")
        points: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            points = browser.script(
                "return Object.fromEntries([...document.querySelectorAll('svg[id^=plot-]')]"
                ".map(s => [s.id, Number(s.getAttribute('data-points'))]))")
            if all(points.get(p, 0) > 0 for p in PLOTS):
                break
            time.sleep(0.5)
        assert all(points[p] > 0 for p in PLOTS), points
        assert points["plot-latency"] >= 4  # p50 and p95 over at least two seconds of traffic
        page = browser.script(
            "return {budget: document.querySelector('#plot-latency line.budget').getAttribute('data-budget'),"
            " bands: document.querySelectorAll('rect.band').length,"
            " alarms: [...document.querySelectorAll('#alarms li')].map(li => li.getAttribute('data-alarm')),"
            " meta: document.getElementById('meta').textContent}")
        assert page["budget"] == "300" and page["bands"] == 2
        assert {"null_rate", "latency_p95", "drift_rms_dbfs"} <= set(page["alarms"])
        assert "14 requests" in page["meta"] and "tiny.en" in page["meta"]
        series = get_json(port, "/api/timeseries?span_s=60&step_s=60")
        assert series["points"][-1]["requests"] == 14
        png = browser.screenshot()
        assert png.startswith(b"\x89PNG")
        (tmp_path / "dashboard.png").write_bytes(png)
        if os.environ.get("ASR_DASHBOARD_SCREENSHOT"):
            Path(os.environ["ASR_DASHBOARD_SCREENSHOT"]).write_bytes(png)
    finally:
        server.stop(0.5)
