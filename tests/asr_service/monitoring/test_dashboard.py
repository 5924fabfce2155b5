"""The dashboard in headless Chromium (through chromedriver's W3C WebDriver API, plain HTTP), with real traffic."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vad
from asr_service.client import ReplayOptions, features_of_clip, manifest_clips, replay
from asr_service.config import MonitoringOptions, ServerConfig
from asr_service.monitoring import Baseline
from asr_service.server import BackgroundServer
from tests.asr_service.monitoring.probes import get_json

pytestmark = [pytest.mark.browser, pytest.mark.shared_data, pytest.mark.slow]

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
PLOTS = ("plot-latency", "plot-rps", "plot-null", "plot-volume", "plot-duration")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDriver:
    """The few W3C WebDriver calls the test needs, over urllib."""

    def __init__(self, port: int, user_data_dir: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", f"--user-data-dir={user_data_dir}",
                "--window-size=1280,1100"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read())["value"]

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def script(self, source: str) -> Any:
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": source, "args": []})

    def screenshot(self) -> bytes:
        return base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot"))

    def quit(self) -> None:
        self._call("DELETE", f"/session/{self.session}")


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver (installed by .ci/run)")
    port = free_port()
    driver_process = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        driver = WebDriver(port, tmp_path / "chromium-profile")
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        driver_process.terminate()
        driver_process.wait(10)


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
