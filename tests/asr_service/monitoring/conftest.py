"""Servers with a monitoring port and a fake engine whose output and timing the tests control."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from asr_service.config import MonitoringOptions, ServerConfig
from asr_service.server import BackgroundServer
from tests.fakes import FakeEngine


@pytest.fixture()
def monitored_server() -> Iterator[Callable[..., BackgroundServer]]:
    """Start servers with a fake engine and an HTTP port (stopped at the end of the test)."""
    started: list[BackgroundServer] = []

    def start(engine: FakeEngine | None = None, *, monitoring: dict[str, Any] | None = None,
              **config: Any) -> BackgroundServer:
        # The timer is off (600 s) unless a test asks: tests call monitor.tick() themselves.
        settings: dict[str, Any] = {"port": 0, "http_port": 0, "shutdown_notice_s": 0.0,
                                    "monitoring": MonitoringOptions(**{"interval_s": 600.0, **(monitoring or {})}),
                                    **config}
        fake = engine or FakeEngine()
        running = BackgroundServer(ServerConfig(**settings), engine_factory=lambda options: fake).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop(0.5)
