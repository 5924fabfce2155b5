"""Rebuilding a gRPC method handler with another behavior or deserializer, keeping its kind.

The interceptors (metrics, the decode guard, auth) each hand gRPC a handler of the same kind as the
one they received (unary or streaming on each side); this is the one place that knows the four kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

__all__ = ["behavior_of", "handler_like"]

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
_BEHAVIORS = {(False, False): "unary_unary", (False, True): "unary_stream", (True, False): "stream_unary",
              (True, True): "stream_stream"}


def behavior_of(handler: Any) -> Any:
    """The handler's behavior (the function gRPC calls)."""
    return getattr(handler, _BEHAVIORS[(handler.request_streaming, handler.response_streaming)])


def handler_like(handler: Any, behavior: Any = None,
                 request_deserializer: Callable[[bytes], Any] | None = None) -> Any:
    """A handler of `handler`'s kind with `behavior` and/or `request_deserializer` in place of its own."""
    factory = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(behavior if behavior is not None else behavior_of(handler),
                   request_deserializer if request_deserializer is not None else handler.request_deserializer,
                   handler.response_serializer)
