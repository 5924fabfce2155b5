"""Servers with a monitoring port, and a fake engine whose output and timing the tests control."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from asr_service.config import MonitoringOptions, ServerConfig
from asr_service.engines import EngineInfo, EngineOptions, Transcription
from tests.e2e.conftest import RunningServer


class FakeEngine:
    """Says `text` with `confidence` after `delay_s`; model version "fake-1"."""

    def __init__(self, options: EngineOptions | None = None, *, text: str = "hello world",
                 confidence: float = 0.8, delay_s: float = 0.0) -> None:
        self.text, self.confidence, self.delay_s = text, confidence, delay_s

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id="fake", model_version="fake-1", engine="test", config_hash="0")

    def transcribe(self, audio: npt.NDArray[np.float32]) -> Transcription:
        if self.delay_s:
            time.sleep(self.delay_s)
        return Transcription(text=self.text, confidence=self.confidence, no_speech_prob=0.0, avg_logprob=-0.1,
                             num_tokens=2, window_s=audio.size / 16_000, used_fallback=False, degenerate=False)

    def close(self) -> None:
        pass


def http_get(port: int, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def get_json(port: int, path: str) -> Any:
    status, _, body = http_get(port, path)
    assert status == 200, body
    return json.loads(body)


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    status, content_type, body = http_get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_after_abort(port: int, code: str, timeout_s: float = 5.0) -> Samples:
    """Scrape once the server has counted a call that ended with `code`.

    grpc.aio's abort() sends the status before the handler (and the interceptor around it) finishes,
    so a client can see the error a moment before the server has counted it.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(port)
        counted = any(name == "asr_grpc_server_handled_total" and ("grpc_code", code) in labels
                      for name, labels in samples)
        if counted or time.monotonic() > deadline:
            return samples
        time.sleep(0.02)


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The one sample of `name` with exactly these labels (model_version=fake-1, role=primary by default)."""
    wanted = {"model_version": "fake-1", "role": "primary", **labels}
    return samples[(name, frozenset(wanted.items()))]


@pytest.fixture()
def monitored_server() -> Iterator[Callable[..., RunningServer]]:
    """Start servers with a fake engine and an HTTP port (stopped at the end of the test)."""
    started: list[RunningServer] = []

    def start(engine: FakeEngine | None = None, *, monitoring: dict[str, Any] | None = None,
              **config: Any) -> RunningServer:
        # The timer is off (600 s) unless a test asks: tests call monitor.tick() themselves.
        settings: dict[str, Any] = {"port": 0, "http_port": 0, "shutdown_notice_s": 0.0,
                                    "monitoring": MonitoringOptions(**{"interval_s": 600.0, **(monitoring or {})}),
                                    **config}
        fake = engine or FakeEngine()
        running = RunningServer(ServerConfig(**settings), engine_factory=lambda options: fake).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(0.5)
