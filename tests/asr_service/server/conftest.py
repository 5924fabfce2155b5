"""Fixtures of the server's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from asr_service.config import ServerConfig
from asr_service.server import BackgroundServer


@pytest.fixture()
def serve() -> Iterator[Callable[..., BackgroundServer]]:
    """`serve(engine, **config)`: a real server on a free loopback port that runs `engine` (any object with the
    engine's methods), with `ServerConfig(**config)`; stopped after the test."""
    started: list[BackgroundServer] = []

    def start(engine: object, **config: object) -> BackgroundServer:
        running = BackgroundServer(ServerConfig(port=0, shutdown_notice_s=0.0, **config),  # type: ignore[arg-type]
                                   engine_factory=lambda options: engine).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
