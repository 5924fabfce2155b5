"""Errors raised by the ASR service.

The tree::

    AsrError                      base of everything this package raises on purpose
    ├── InvalidAudioError         the clip or its declared format is wrong   -> INVALID_ARGUMENT
    ├── ClipTooLongError          the clip is longer than the server allows  -> OUT_OF_RANGE
    ├── ProtocolError             messages in the wrong order or shape       -> INVALID_ARGUMENT
    ├── UnknownModelError         a model id the server does not serve       -> NOT_FOUND
    ├── OverloadedError           admission control refused the request      -> RESOURCE_EXHAUSTED
    ├── StreamLimitError          a stream went quiet or ran past its limits -> RESOURCE_EXHAUSTED
    ├── UnavailableError          not ready or draining; retry elsewhere     -> UNAVAILABLE
    ├── ModelFailedError          the model raised on this clip              -> INTERNAL
    ├── DeploymentError           an admin command the state does not allow  (HTTP 404/409, nothing changed)
    ├── ConfigError               a bad server or client setting             (startup only)
    ├── ClientError               the client could not get an answer         (client side only)
    └── CaptureError              no microphone, a busy one, or no PortAudio (client side only)

Every message names the field or setting at fault. The codes on the right are the server's: the
one table from these errors to gRPC status codes sits beside the servicer
(`asr_service.server._status`), so that this module, and everything that raises these errors,
loads without gRPC. The servicers catch `AsrError` only; anything else is a bug and reaches gRPC as
INTERNAL with the exception logged.
"""

from __future__ import annotations

__all__ = [
    "AsrError",
    "CaptureError",
    "ClientError",
    "ClipTooLongError",
    "ConfigError",
    "DeploymentError",
    "InvalidAudioError",
    "ModelFailedError",
    "OverloadedError",
    "ProtocolError",
    "StreamLimitError",
    "UnavailableError",
    "UnknownModelError",
]


class AsrError(Exception):
    """Base class of the errors this package raises on purpose."""


class InvalidAudioError(AsrError):
    """The clip, or the format declared for it, cannot be used."""


class ClipTooLongError(AsrError):
    """The clip is longer than the server's `max_clip_s`."""


class ProtocolError(AsrError):
    """Messages arrived in the wrong order or shape (e.g. audio before config)."""


class UnknownModelError(AsrError):
    """The request named a model this server does not serve."""


class OverloadedError(AsrError):
    """Too many requests in flight: admission control refused this one. `retry_after_ms`: when a retry is
    likely to be admitted (sent to the client as the `retry-after-ms` trailer), None when unknown."""

    def __init__(self, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class StreamLimitError(AsrError):
    """A stream was quiet too long, lasted too long or carried too many clips (`ServerConfig.stream_*`)."""


class UnavailableError(AsrError):
    """The server is not ready (model loading) or is draining for shutdown."""


class ModelFailedError(AsrError):
    """The model raised while transcribing (a bug or a broken model: gRPC INTERNAL, counted by the canary guards)."""


class DeploymentError(AsrError):
    """An admin command that cannot be carried out as asked (unknown model, a canary of the primary itself, ...):
    nothing was changed."""


class ConfigError(AsrError):
    """A setting is missing, of the wrong type or out of range."""

    @classmethod
    def out_of_range(cls, name: str, value: object, allowed: str) -> ConfigError:
        """The error for setting `name` holding `value`, with the values it allows."""
        return cls(f"{name}: {value!r} is out of range (allowed: {allowed})")


class ClientError(AsrError):
    """The client could not get an answer: server unreachable, or it refused the request.

    `code` is the gRPC status code name the server answered with ("UNAVAILABLE", ...), if any;
    `retry_after_ms` the server's hint for when to try again (its `retry-after-ms` trailer), if it gave one.
    """

    def __init__(self, message: str, *, code: str | None = None, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_ms = retry_after_ms


class CaptureError(AsrError):
    """A live audio input cannot be used: no such device, the device is busy, PortAudio is missing."""
