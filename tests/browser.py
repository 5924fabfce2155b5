"""A real headless Chromium for page tests, through chromedriver's W3C WebDriver API (plain HTTP).

`chromium(profile_dir)` starts one (the `browser` fixture of tests/conftest.py wraps it); it skips when
Debian's chromium or chromium-driver is missing. `extra_args` adds command-line flags, e.g. a fake
microphone that plays a WAV (`FAKE_MICROPHONE_ARGS`).
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMEDRIVER", "CHROMIUM", "WebDriver", "chromium", "fake_microphone_args", "free_port"]

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_microphone_args(wav: Path) -> list[str]:
    """Flags that grant the microphone without asking and make it play `wav` once, in real time."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop"]


class WebDriver:
    """The few W3C WebDriver calls the tests need, over urllib."""

    def __init__(self, port: int, user_data_dir: Path, extra_args: Sequence[str] = ()) -> None:
        self.base = f"http://127.0.0.1:{port}"
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", f"--user-data-dir={user_data_dir}",
                "--window-size=1280,1100", *extra_args]
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

    def click(self, css_selector: str) -> None:
        """A real click (a user gesture, unlike a scripted `.click()`) on the first match."""
        found = self._call("POST", f"/session/{self.session}/element", {"using": "css selector", "value": css_selector})
        element = next(iter(found.values()))
        self._call("POST", f"/session/{self.session}/element/{element}/click", {})

    def screenshot(self) -> bytes:
        return base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot"))

    def quit(self) -> None:
        self._call("DELETE", f"/session/{self.session}")


@contextmanager
def chromium(profile_dir: Path, extra_args: Sequence[str] = ()) -> Iterator[WebDriver]:
    """A headless Chromium under chromedriver, closed afterwards; skips without them."""
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
        driver = WebDriver(port, profile_dir, extra_args)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        driver_process.terminate()
        driver_process.wait(10)
