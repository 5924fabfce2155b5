"""Building, starting and stopping the gRPC server.

`create_server(config)` builds and binds a server and returns it with its port; `serve(config)`
runs one until SIGTERM or SIGINT. Shutdown order, fixed: health goes NOT_SERVING and new
requests get UNAVAILABLE for `shutdown_notice_s` (the port still answers, so health checkers see
it), then the port closes and in-flight work drains for up to `drain_timeout_s`, the rest is
cancelled, the engine is released, and one log line says how it went.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import tempfile
import time
from typing import Any, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter

from asr_service._malloc import release_free_memory
from asr_service.config import ServerConfig
from asr_service.deployment import AdminApi, Deployment, ModelSpec
from asr_service.engines import EngineFactory, create_engine
from asr_service.errors import ConfigError
from asr_service.monitoring import Monitor
from asr_service.recognizer import Recognizer
from asr_service.request_log import RequestLog
from asr_service.server._auth import AuthInterceptor
from asr_service.server._consent import ResultKeeper
from asr_service.server._decode_guard import DecodeGuard
from asr_service.server._grpc_web import GrpcWebGateway
from asr_service.server._interceptor import MetricsInterceptor
from asr_service.server._quotas import ClientQuotas
from asr_service.server._servicer import RecognizerServicer
from asr_service.server._tls import grpc_server_credentials
from protos.asr.v1 import asr_pb2, asr_pb2_grpc

__all__ = ["SERVICE_NAME", "AsrServer", "create_server", "serve"]

logger = logging.getLogger(__name__)

SERVICE_NAME = asr_pb2.DESCRIPTOR.services_by_name["Recognizer"].full_name  # "asr.v1.Recognizer"
_MAX_STREAMS_PER_CONNECTION = 100  # one client connection cannot hold the server's streams alone


def _limit_name(reason: str) -> str:
    """A bounded label value for a cut stream's reason."""
    for name in ("first message", "no message", "open for", "clips"):
        if name in reason:
            return {"first message": "first_message", "no message": "idle", "open for": "duration",
                    "clips": "clips"}[name]
    return "other"


class AsrServer:
    """A gRPC server with the recognizer, health and reflection services on one port."""

    def __init__(self, config: ServerConfig, *, engine_factory: EngineFactory = create_engine) -> None:
        self.config = config
        self.monitor = Monitor(config)  # metrics, alarms, drift; HTTP on config.http_port
        # the models and which of them answers (blue/green, canary, shadow); admin calls on the HTTP port
        self.deployment = Deployment(config, engine_factory=engine_factory, observers=(self.monitor.observe,),
                                     registry=self.monitor.registry)
        self.monitor.attach(self.deployment.recognizers)
        self.monitor.watch_deployment(self.deployment)
        self._calls = MetricsInterceptor(self.monitor.registry, self.monitor.model_labels)
        guards: list[grpc.aio.ServerInterceptor] = [DecodeGuard((SERVICE_NAME,))]
        if self.monitor.tokens is not None:
            scopes = {SERVICE_NAME: "recognize", f"{SERVICE_NAME}/ReportFeedback": "feedback"}
            guards.insert(0, AuthInterceptor(self.monitor.tokens, scopes, self.monitor.registry))
        # consented request logging, off the hot path (asr_service/request_log); None: nothing is kept
        self.request_log = (RequestLog(config.request_log, self.monitor.registry)
                            if config.request_log.dir is not None else None)
        if self.request_log is not None:
            self.monitor.watch_request_log(lambda: self.request_log.degraded if self.request_log else None)
        self._server = grpc.aio.server(
            # metrics outermost, so that refusals (a bad token, bytes that do not parse) are counted too
            interceptors=[self._calls, *guards],
            options=[
                # a message larger than a whole clip of max_clip_s is refused before it is read in full
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.so_reuseport", 0),
                # dead peers and idle connections go away instead of holding a socket for good
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.max_connection_idle_ms", int(config.stream_idle_timeout_s * 1000) + 60_000),
                ("grpc.max_concurrent_streams", _MAX_STREAMS_PER_CONNECTION),
                ("grpc.server_handshake_timeout_ms", int(config.connection_handshake_timeout_s * 1000)),
            ]
        )
        self._health = health.aio.HealthServicer()
        self._serving = False  # what the health service says; also GET /healthz on the HTTP port
        self.monitor.watch_health(lambda: self._serving)
        self._streams_cut = Counter("asr_streams_cut", "Streams closed by a limit (asr_service/server/_limits.py).",
                                    ("limit",), registry=self.monitor.registry)
        servicer = RecognizerServicer(config, self.deployment,
                                      pitch=self.monitor.drift is not None,
                                      on_stream_cut=lambda why: self._streams_cut.labels(_limit_name(why)).inc(),
                                      identify=self._client_name if self.monitor.tokens is not None else None,
                                      quotas=ClientQuotas(config.client_concurrency, config.client_max_clips_per_s,
                                                          retry_hint_ms=self._retry_hint_ms),
                                      keeper=ResultKeeper(self.request_log, config) if self.request_log else None,
                                      observe_feedback=self.monitor.observe_feedback)
        asr_pb2_grpc.add_RecognizerServicer_to_server(servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        self.port = self._bind()
        self._grpc_web_dir: str | None = None
        self._trimming: asyncio.Task[None] | None = None  # memory_trim_interval_s
        self._grpc_web: GrpcWebGateway | None = None
        if config.grpc_web and self.monitor.http is not None:
            self._attach_grpc_web()

    def _attach_grpc_web(self) -> None:
        """gRPC-Web on the HTTP port (server/_grpc_web.py): it reaches this server through a Unix socket
        in a private directory, so browser calls pass the same interceptors and servicer, whatever the
        TCP port's address and TLS."""
        assert self.monitor.http is not None
        self._grpc_web_dir = tempfile.mkdtemp(prefix="asr-grpc-web-")  # mode 0700: this user only
        target = f"unix:{self._grpc_web_dir}/grpc.sock"
        if self._server.add_insecure_port(target) == 0:
            raise ConfigError(f"grpc_web: cannot listen on {target}")
        self._grpc_web = GrpcWebGateway(target, max_message_bytes=self.config.max_message_bytes,
                                        allowed_origins=self.config.grpc_web_allowed_origins)
        self.monitor.http.attach_gateway(self._grpc_web)

    def _close_grpc_web(self) -> None:
        if self._grpc_web is not None:
            self._grpc_web.close()
            self._grpc_web = None
        if self._grpc_web_dir is not None:
            shutil.rmtree(self._grpc_web_dir, ignore_errors=True)
            self._grpc_web_dir = None

    def _client_name(self, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        """The client's name, from its token (the auth interceptor has let the call through)."""
        assert self.monitor.tokens is not None
        metadata = dict(context.invocation_metadata() or ())
        return self.monitor.tokens.check(cast(str | None, metadata.get("authorization")), "recognize").client

    def _retry_hint_ms(self) -> int:
        """About when a slot frees up: the mean inference time of recent clips (the budget before any)."""
        recognizer = self.deployment.primary
        recent = recognizer.mean_inference_ms if recognizer is not None else None
        return max(1, round(recent if recent else self.config.budget_ms))

    def _bind(self) -> int:
        address = f"{self.config.host}:{self.config.port}"
        tls = self.config.tls
        try:
            if tls is not None:
                port = int(self._server.add_secure_port(address, grpc_server_credentials(tls)))
            else:
                port = int(self._server.add_insecure_port(address))
        except RuntimeError as exc:
            raise ConfigError(f"host/port: cannot listen on {address} ({exc})") from exc
        if port == 0:
            raise ConfigError(f"host/port: cannot listen on {address} (in use, or not an address of this host)")
        return port

    @property
    def recognizer(self) -> Recognizer | None:
        """The primary recognizer, once the model is loaded."""
        return self.deployment.primary

    async def start(self) -> None:
        """Start answering (health NOT_SERVING), load the model, then go SERVING."""
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.config.log_level.upper() == "DEBUG":  # the only level at which a transcript can be logged
            logger.warning("log_level = DEBUG: the text of degenerate decodes is logged; transcripts and audio "
                           "are logged at no other level")
        if self.request_log is not None:
            await asyncio.to_thread(self.request_log.start)  # repairs what a crash left, before any new row
        await self._server.start()
        self._start_trimming()
        self.monitor.admin = AdminApi(self.deployment, asyncio.get_running_loop())
        await self.monitor.start()
        logger.info("listening on %s:%d; loading model %s", self.config.host, self.port, self.config.engine.model)
        started = time.perf_counter()
        try:
            # the state file's models and policy when there is one, else engine.model (and [deployment] models)
            await self.deployment.restore(ModelSpec(source=self.config.engine.model))
        except Exception as exc:
            await self._server.stop(None)
            await self._stop_trimming()
            await self.monitor.stop()
            self._close_grpc_web()
            if self.request_log is not None:
                await asyncio.to_thread(self.request_log.stop)
            await self.deployment.close()
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"engine.model: cannot load {self.config.engine.model!r} ({exc})") from exc
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        primary = self.deployment.primary
        assert primary is not None
        logger.info(
            "serving model %s version %s (loaded in %.1f s)",
            primary.info.model_id,
            primary.info.model_version,
            time.perf_counter() - started,
        )

    async def _set_health(self, status: int) -> None:
        self._serving = status == health_pb2.HealthCheckResponse.SERVING
        await self._health.set("", status)
        await self._health.set(SERVICE_NAME, status)

    async def stop(self, grace_s: float | None = None) -> None:
        """Graceful shutdown: refuse new work, drain in-flight requests up to `grace_s`, then stop."""
        grace = self.config.drain_timeout_s if grace_s is None else grace_s
        self.deployment.drain()
        self._serving = False
        await self._health.enter_graceful_shutdown()
        started = time.perf_counter()
        await asyncio.sleep(self.config.shutdown_notice_s)
        in_flight = sum(r.in_flight for r in self.deployment.recognizers())
        open_calls = self._calls.open_calls  # streams between clips are open calls with nothing in flight
        await self._server.stop(grace)
        await self.deployment.close()  # joins the worker threads, off the event loop
        if self.request_log is not None:  # every queued row reaches the disk before the process ends
            await asyncio.to_thread(self.request_log.stop)
        await self.monitor.stop()
        await self._stop_trimming()
        self._close_grpc_web()
        logger.info(
            "stopped: %d call(s) open at shutdown (%d clip(s) in the engine), drained in %.2f s (grace %.1f s)",
            open_calls,
            in_flight,
            time.perf_counter() - started,
            grace,
        )

    def _start_trimming(self) -> None:
        interval = self.config.memory_trim_interval_s
        if interval > 0:
            self._trimming = asyncio.create_task(_trim_memory_every(interval), name="asr-memory-trim")

    async def _stop_trimming(self) -> None:
        task, self._trimming = self._trimming, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_for_termination(self) -> None:
        """Wait until the server stops."""
        await self._server.wait_for_termination()


def create_server(
    config: ServerConfig, *, engine_factory: EngineFactory = create_engine
) -> tuple[AsrServer, int]:
    """Build and bind a server (not started yet); returns it and the port it listens on.

    `engine_factory` loads the model when the server starts (tests pass their own). Call it from
    the event loop that will run the server: grpc.aio objects belong to the loop they are made in.
    """
    server = AsrServer(config, engine_factory=engine_factory)
    return server, server.port


async def serve(config: ServerConfig) -> None:
    """Run a server until SIGTERM or SIGINT, then shut it down gracefully."""
    server, _ = create_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    await stop.wait()
    logger.info("signal received: shutting down")
    await server.stop()


async def _trim_memory_every(interval_s: float) -> None:
    """Give the memory the process has freed back to the OS, every `interval_s`, off the event loop.

    glibc keeps freed heap pages: after 20,000 raw connections had come and gone (each with gRPC's
    buffers), RSS stayed 207 MB up a minute later; with a trim, 98 MB (docs/security.md, "Connection flood").
    A trim holds the allocator's lock for 4-44 ms on such a heap.
    """
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(release_free_memory)
