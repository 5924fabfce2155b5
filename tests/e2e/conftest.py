"""A real server on a real port (port 0), with the embedded model, shared by the e2e tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from asr_service.client import AsrClient
from asr_service.config import ServerConfig
from asr_service.server import BackgroundServer


@pytest.fixture(scope="session")
def server() -> Iterator[BackgroundServer]:
    """A server with the embedded model, limits small enough to test (max clip 20 s)."""
    running = BackgroundServer(ServerConfig(port=0, max_clip_s=20.0, max_concurrent_requests=4)).start()
    yield running
    running.stop()


@pytest.fixture()
def client(server: BackgroundServer) -> Iterator[AsrClient]:
    with AsrClient(server.target, timeout_s=60.0) as c:
        yield c
