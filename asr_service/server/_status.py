"""The one table from the service's errors to gRPC status codes (the tree is in `asr_service.errors`)."""

from __future__ import annotations

import grpc

from asr_service.errors import (
    AsrError,
    ClipTooLongError,
    InvalidAudioError,
    OverloadedError,
    ProtocolError,
    StreamLimitError,
    UnavailableError,
    UnknownModelError,
)

__all__ = ["STATUS_CODES", "status_code_for"]

STATUS_CODES: dict[type[AsrError], grpc.StatusCode] = {
    InvalidAudioError: grpc.StatusCode.INVALID_ARGUMENT,
    ProtocolError: grpc.StatusCode.INVALID_ARGUMENT,
    ClipTooLongError: grpc.StatusCode.OUT_OF_RANGE,
    UnknownModelError: grpc.StatusCode.NOT_FOUND,
    OverloadedError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    StreamLimitError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    UnavailableError: grpc.StatusCode.UNAVAILABLE,
}


def status_code_for(error: AsrError) -> grpc.StatusCode:
    """The gRPC status code for `error` (INTERNAL for errors that should not reach a servicer)."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL
