"""Bearer tokens on the gRPC port: every `asr.v1.Recognizer` method needs the `recognize` scope, but
`ReportFeedback` the `feedback` scope; health and reflection stay open (probes and tools).
UNAUTHENTICATED for a missing or unknown token, PERMISSION_DENIED for a known client without the scope
(`asr_service.auth`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc
from prometheus_client import CollectorRegistry, Counter

from asr_service.auth import TokenFile
from asr_service.server._handlers import handler_like

__all__ = ["AuthInterceptor"]

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls to `scopes`' services without a token that carries the service's scope."""

    def __init__(self, tokens: TokenFile, scopes: dict[str, str], registry: CollectorRegistry) -> None:
        self._tokens = tokens
        self._scopes = scopes  # "service/Method" or "service" -> the scope that method (or every method) needs
        # the client's name is a label: bounded, since names come from the token file
        self._calls = Counter("asr_client_calls", "Calls let through, by the client their token names.",
                              ("client",), registry=registry)
        self._refused = Counter("asr_auth_refused", "Calls refused: no token, an unknown one, a missing scope.",
                                ("reason",), registry=registry)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[_Req, _Resp] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Req, _Resp] | None:
        method = str(handler_call_details.method).lstrip("/")
        scope = self._scopes.get(method) or self._scopes.get(method.rpartition("/")[0])
        handler = await continuation(handler_call_details)
        if scope is None or handler is None:
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        decision = self._tokens.check(cast(str | None, metadata.get("authorization")), scope)
        if decision.allowed:
            self._calls.labels(str(decision.client)).inc()
            return handler
        self._refused.labels("scope" if decision.client is not None else
                             "no_token" if not metadata.get("authorization") else "unknown_token").inc()
        code = grpc.StatusCode.UNAUTHENTICATED if decision.client is None else grpc.StatusCode.PERMISSION_DENIED
        return cast("grpc.RpcMethodHandler[_Req, _Resp]", _refusal(handler, code, decision.reason))


def _refusal(handler: Any, code: grpc.StatusCode, message: str) -> Any:
    """A handler of the same kind as `handler` that answers `code` and reads nothing (a status set on the
    context and a normal return, not `context.abort`, whose exception leaves every refused call in
    reference cycles: see `_servicer._refuse`)."""

    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        context.set_code(code)
        context.set_details(message)

    async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        context.set_code(code)
        context.set_details(message)
        return
        yield  # pragma: no cover  (makes this an async generator, with no message)

    return handler_like(handler, stream if handler.response_streaming else unary)
