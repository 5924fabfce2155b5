"""gRPC server metrics by service, method and status code, from an async interceptor.

They go into the server's monitoring registry (`Monitor.registry`), beside the `asr_*` metrics; the
interceptor lives here, with the other gRPC code, so that monitoring itself loads without gRPC.

Streaming calls are timed to the end of the response stream, not to the handler's return (a
handler that returns an async generator returns at once): the interceptor wraps the generator.
Refusals are counted with their code, read from the context (`set_code`, or `abort`, which raises).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from asr_service.monitoring import LATENCY_BUCKETS_S, MODEL_LABELS
from asr_service.server._handlers import behavior_of, handler_like

__all__ = ["MetricsInterceptor"]

ModelLabels = Callable[[], tuple[str, str]]
_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")
_CALL_LABELS = (*MODEL_LABELS, "grpc_service", "grpc_method", "grpc_type")


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts started and handled calls, messages, and call duration, into `registry`.

    `model_labels()` gives the (model_version, role) of the server's primary model when the call
    is counted (gRPC calls are not tied to one model; "" while the model loads).
    """

    def __init__(self, registry: CollectorRegistry, model_labels: ModelLabels) -> None:
        self._labels = model_labels
        self._wrapped: dict[str, tuple[Any, Any]] = {}  # method -> (handler, its counted wrapper)
        self.open_calls = 0  # calls started and not finished: what a shutdown has to drain
        self.started = Counter("asr_grpc_server_started", "gRPC calls started.", _CALL_LABELS, registry=registry)
        self.handled = Counter(
            "asr_grpc_server_handled", "gRPC calls finished, by status code.", (*_CALL_LABELS, "grpc_code"),
            registry=registry)
        self.handling = Histogram(
            "asr_grpc_server_handling_seconds", "gRPC call duration, to the end of the response stream.",
            _CALL_LABELS, buckets=LATENCY_BUCKETS_S, registry=registry)
        self.received = Counter(
            "asr_grpc_server_msg_received", "Request messages received.", _CALL_LABELS, registry=registry)
        self.sent = Counter("asr_grpc_server_msg_sent", "Response messages sent.", _CALL_LABELS, registry=registry)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = str(handler_call_details.method)
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:  # wrap each method's handler once, not per call
            cached = (handler, self._wrap(handler, method))
            self._wrapped[method] = cached
        return cast("grpc.RpcMethodHandler[_Req, _Resp]", cached[1])

    def _wrap(self, handler: Any, full_method: str) -> Any:
        service, _, method = full_method.lstrip("/").rpartition("/")
        call = _Call(self, service, method, handler.request_streaming, handler.response_streaming)
        behavior = behavior_of(handler)
        if handler.response_streaming:
            if not inspect.isasyncgenfunction(behavior):
                return handler  # reader/writer-style or sync handlers: not used here, left unmeasured
            return handler_like(handler, call.wrap_stream(behavior))
        if not inspect.iscoroutinefunction(behavior):
            return handler
        return handler_like(handler, call.wrap_unary(behavior))


class _Call:
    """The counting around one method's behavior."""

    def __init__(
        self, owner: MetricsInterceptor, service: str, method: str, request_streaming: bool, response_streaming: bool
    ) -> None:
        self._owner = owner
        self._service = service
        self._method = method
        self._request_streaming = request_streaming
        kind = {(False, False): "unary", (True, False): "client_stream",
                (False, True): "server_stream", (True, True): "bidi_stream"}
        self._type = kind[(request_streaming, response_streaming)]

    def _begin(self) -> tuple[tuple[str, ...], float]:
        labels = (*self._owner._labels(), self._service, self._method, self._type)
        self._owner.started.labels(*labels).inc()
        self._owner.open_calls += 1
        return labels, time.perf_counter()

    def _end(self, labels: tuple[str, ...], started: float, code: grpc.StatusCode) -> None:
        self._owner.open_calls -= 1
        self._owner.handling.labels(*labels).observe(time.perf_counter() - started)
        self._owner.handled.labels(*labels, code.name).inc()

    def _requests(self, request: Any, labels: tuple[str, ...]) -> Any:
        if not self._request_streaming:
            self._owner.received.labels(*labels).inc()
            return request
        return self._count_requests(request, labels)

    async def _count_requests(self, requests: AsyncIterator[Any], labels: tuple[str, ...]) -> AsyncIterator[Any]:
        counter = self._owner.received.labels(*labels)
        async for request in requests:
            counter.inc()
            yield request

    def wrap_unary(self, behavior: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
        """A coroutine handler counted around its await."""

        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with _Counted(self, context) as counted:
                response = await behavior(self._requests(request, counted.labels), context)
                if _code_of(context, grpc.StatusCode.OK) is grpc.StatusCode.OK:  # a refusal's message is not sent
                    self._owner.sent.labels(*counted.labels).inc()
                return response

        return unary

    def wrap_stream(
        self, behavior: Callable[[Any, Any], AsyncIterator[Any]]
    ) -> Callable[[Any, Any], AsyncIterator[Any]]:
        """An async-generator handler counted to the end of its response stream."""

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            with _Counted(self, context) as counted:
                sent = self._owner.sent.labels(*counted.labels)
                async for response in behavior(self._requests(request, counted.labels), context):
                    sent.inc()
                    yield response

        return stream


class _Counted:
    """One call, from its start to its status: OK, the code set on the context, or CANCELLED."""

    __slots__ = ("_call", "_context", "_started", "labels")

    def __init__(self, call: _Call, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._call = call
        self._context = context
        self.labels, self._started = call._begin()

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            code = _code_of(self._context, grpc.StatusCode.OK)
        elif issubclass(exc_type, (asyncio.CancelledError, GeneratorExit)):  # client gone, stream closed
            code = grpc.StatusCode.CANCELLED
        else:  # context.abort raises after setting the code
            code = _code_of(self._context, grpc.StatusCode.UNKNOWN)
        self._call._end(self.labels, self._started, code)


def _code_of(context: grpc.aio.ServicerContext[Any, Any], default: grpc.StatusCode) -> grpc.StatusCode:
    """The status code set on the context (by abort or set_code), else `default`."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpc versions keep the raw integer
        for candidate in grpc.StatusCode:
            if candidate.value[0] == code:
                return candidate
    return default
