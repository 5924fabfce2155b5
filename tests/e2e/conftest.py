"""A real server on a real port (port 0), with the embedded model, shared by the e2e tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from asr_service.client import AsrClient
from asr_service.config import ServerConfig
from asr_service.server import AsrServer, create_server


class RunningServer:
    """An AsrServer on its own event loop in a background thread."""

    def __init__(self, config: ServerConfig, **kwargs: object) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

        async def build() -> tuple[AsrServer, int]:  # grpc.aio objects belong to the loop they are made in
            return create_server(config, **kwargs)  # type: ignore[arg-type]

        self.server, self.port = self.call(build())  # type: ignore[misc]
        self.target = f"127.0.0.1:{self.port}"

    def start(self) -> RunningServer:
        self.call(self.server.start())
        return self

    def call(self, coro: object, timeout_s: float = 120.0) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)  # type: ignore[arg-type]

    def stop(self, grace_s: float | None = None) -> None:
        self.call(self.server.stop(grace_s))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """A server with the embedded model, limits small enough to test (max clip 20 s)."""
    running = RunningServer(ServerConfig(port=0, max_clip_s=20.0, max_concurrent_requests=4)).start()
    yield running
    running.stop()


@pytest.fixture()
def client(server: RunningServer) -> Iterator[AsrClient]:
    with AsrClient(server.target, timeout_s=60.0) as c:
        yield c
