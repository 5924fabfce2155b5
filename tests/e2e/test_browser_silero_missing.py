"""The browser client asked for Silero on a server where `asr silero install` never ran: the page says so and
how to install it, and Start stays off (no speech needed: the page never reaches the microphone)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from asr_service.config import ServerConfig
from asr_service.server import BackgroundServer
from tests.browser import chromium
from tests.fakes import FakeEngine

pytestmark = [pytest.mark.browser]


def test_the_page_says_silero_is_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASR_SILERO_DIR", str(tmp_path / "empty"))
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0)
    server = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="x")).start()
    try:
        with chromium(tmp_path / "profile") as browser:
            browser.get(f"http://127.0.0.1:{server.server.monitor.http_port}/app/?detector=silero")
            deadline = time.monotonic() + 20
            status = ""
            while not status.startswith("VAD failed") and time.monotonic() < deadline:
                time.sleep(0.2)
                status = browser.script("return window.asrApp ? window.asrApp.status : ''")
            assert status.startswith("VAD failed to load: Silero is not installed on this server: asr silero install")
            assert browser.script("return document.getElementById('start').disabled") is True
            assert browser.script("return document.getElementById('detector').value") == "silero"
    finally:
        server.stop(1.0)
