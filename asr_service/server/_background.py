"""An `AsrServer` on its own event loop in a thread, for synchronous code: the demo, tests, notebooks."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from asr_service._loop import LoopThread
from asr_service.config import ServerConfig
from asr_service.engines import EngineFactory, create_engine
from asr_service.server._app import AsrServer, create_server

__all__ = ["BackgroundServer"]

T = TypeVar("T")


class BackgroundServer:
    """Builds the server on a private loop (grpc.aio objects belong to the loop they are made in).

    `start()` loads the model and returns once the server is SERVING; `stop()` shuts it down
    gracefully and ends the loop. A failed build or start ends the loop too.
    """

    def __init__(self, config: ServerConfig, *, engine_factory: EngineFactory = create_engine) -> None:
        self._loop_thread = LoopThread("asr-server")
        self.loop = self._loop_thread.loop

        async def build() -> tuple[AsrServer, int]:
            return create_server(config, engine_factory=engine_factory)

        try:
            self.server, self.port = self.call(build())
        except BaseException:
            self._end_loop()
            raise
        self.target = f"{config.host}:{self.port}"
        self._stopped = False

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run `coro` on the server's loop and wait for its result."""
        return self._loop_thread.call(coro, timeout_s)

    def start(self) -> BackgroundServer:
        """Start serving and load the model (SERVING on return)."""
        try:
            self.call(self.server.start())
        except BaseException:
            self._end_loop()
            raise
        return self

    def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown (see `AsrServer.stop`), then end the loop. A second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.call(self.server.stop(grace_s))
        finally:
            self._end_loop()

    def _end_loop(self) -> None:
        self._loop_thread.close()
