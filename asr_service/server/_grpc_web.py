"""gRPC-Web on the HTTP port: a small gateway in front of the server's own gRPC port.

A browser cannot speak native gRPC (no HTTP/2 trailers from `fetch`), so the HTTP port accepts
gRPC-Web (`application/grpc-web+proto`, and its base64 form `application/grpc-web-text`) for the
unary methods, and forwards each call, as raw message bytes, to the same `grpc.aio` server over a
loopback channel: a Unix socket in a private directory (mode 0700) that the server listens on beside
its TCP port. The call therefore goes through the same interceptors (metrics, auth, quotas, decode
guard) and the same servicer as a native one, in the same process; the gateway knows no message type.

What it does, per the gRPC-Web protocol (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md):

- unframes the one length-prefixed request message (a compressed frame is refused: browsers do not
  compress requests), and turns the request headers into metadata (`authorization`, `x-client-id`,
  any other application header; `-bin` headers base64-decoded), `grpc-timeout` into the deadline;
- frames the answer: the message, then a trailer frame (`grpc-status`, `grpc-message` percent-encoded
  as the gRPC spec says, trailing metadata); an error is a trailers-only answer (status in the
  headers, empty body);
- answers CORS preflights and tags answers for the origins `grpc_web_allowed_origins` names, exposing
  `grpc-status` and `grpc-message` to the page.

Client-streaming and bidi methods (`StreamingRecognize`) are answered `UNIMPLEMENTED`: a browser's
`fetch` cannot stream a request body over HTTP/1.1 or to most servers, and gRPC-Web does not define
it. A browser sends each clip with `Recognize` (the design's "one clip, one unary call").

The HTTP server calls `call` and `preflight` from its own threads; the gRPC channel is thread-safe.
`asr_service.monitoring` never imports this module (it is gRPC-free): `AsrServer` attaches it.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

__all__ = ["GRPC_WEB_METHODS", "GatewayReply", "GrpcWebGateway", "encode_grpc_message"]

logger = logging.getLogger(__name__)

GRPC_WEB_METHODS = frozenset({
    "/asr.v1.Recognizer/Recognize",
    "/asr.v1.Recognizer/ListModels",
    "/asr.v1.Recognizer/ReportFeedback",
    "/grpc.health.v1.Health/Check",
})
"""The unary methods a browser may call."""

_SERVICE_PREFIXES = ("/asr.v1.", "/grpc.health.v1.")
_NOT_UNARY = "/asr.v1.Recognizer/StreamingRecognize"
_FRAME_HEADER = struct.Struct(">BI")  # flags, length
_TRAILER_FLAG = 0x80
_COMPRESSED_FLAG = 0x01
_DEFAULT_TIMEOUT_S = 30.0
_MAX_TIMEOUT_S = 300.0
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9_.\-]*")
# request headers that are HTTP's or the browser's, never application metadata
_NOT_METADATA = frozenset({
    "host", "content-type", "content-length", "connection", "keep-alive", "te", "trailer", "transfer-encoding",
    "upgrade", "accept", "accept-encoding", "accept-language", "user-agent", "origin", "referer", "cookie",
    "pragma", "cache-control", "dnt", "priority", "x-grpc-web", "x-user-agent", "grpc-timeout",
    "grpc-accept-encoding", "grpc-encoding", "forwarded", "via",
})
_EXPOSED = "grpc-status, grpc-message, grpc-status-details-bin"
_ALLOWED_REQUEST_HEADERS = ("authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, x-client-id, "
                            "x-request-id")


@dataclass(frozen=True, slots=True)
class GatewayReply:
    """An HTTP answer: status, headers (in order) and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def encode_grpc_message(message: str) -> str:
    """`grpc-message` as the gRPC spec writes it: UTF-8, every byte outside 0x20-0x7E and `%` as %XX."""
    return "".join(chr(b) if 0x20 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in message.encode("utf-8"))


def parse_grpc_timeout(value: str | None) -> float:
    """Seconds from a `grpc-timeout` header ("500m", "10S"), capped; the default when absent or bad."""
    if not value or len(value) > 9 or value[-1] not in _TIMEOUT_UNITS or not value[:-1].isdigit():
        return _DEFAULT_TIMEOUT_S
    return min(int(value[:-1]) * _TIMEOUT_UNITS[value[-1]], _MAX_TIMEOUT_S)


class GrpcWebGateway:
    """Forwards gRPC-Web calls to `target` (the server's loopback socket) and frames the answers."""

    def __init__(self, target: str, *, max_message_bytes: int, allowed_origins: Sequence[str] = ()) -> None:
        self.max_message_bytes = max_message_bytes
        self._origins = frozenset(allowed_origins)
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", -1),
        ])
        # raw bytes both ways (no serializer): the gateway knows no message type
        self._calls: dict[str, grpc.UnaryUnaryMultiCallable[bytes, bytes]] = {
            method: self._channel.unary_unary(method) for method in GRPC_WEB_METHODS}

    def close(self) -> None:
        """Close the loopback channel."""
        self._channel.close()

    @property
    def max_body_bytes(self) -> int:
        """The largest request body worth reading: one message in base64 plus its frame."""
        return (self.max_message_bytes + _FRAME_HEADER.size) * 4 // 3 + 8

    @staticmethod
    def handles(path: str) -> bool:
        """Whether an HTTP path is a gRPC method path this gateway answers (perhaps with an error)."""
        return path.startswith(_SERVICE_PREFIXES)

    def cors_headers(self, origin: str | None) -> tuple[tuple[str, str], ...]:
        """CORS headers for an answer to a page from `origin` (none for a same-origin page or one not
        allowed: the browser then refuses to show the answer to the page)."""
        if origin is None or not (origin in self._origins or "*" in self._origins):
            return ()
        return (("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                ("Access-Control-Expose-Headers", _EXPOSED))

    def preflight(self, origin: str | None) -> GatewayReply:
        """The answer to a CORS preflight (`OPTIONS`): 204 with the allowed headers, or 403."""
        cors = self.cors_headers(origin)
        if not cors:
            return GatewayReply(403, (("Content-Length", "0"),), b"")
        return GatewayReply(204, (*cors, ("Access-Control-Allow-Methods", "POST, OPTIONS"),
                                  ("Access-Control-Allow-Headers", _ALLOWED_REQUEST_HEADERS),
                                  ("Access-Control-Max-Age", "600"), ("Content-Length", "0")), b"")

    def call(self, path: str, headers: Mapping[str, str], body: bytes) -> GatewayReply:
        """Forward one gRPC-Web call (headers with lower-case names) and return the framed answer."""
        content_type = headers.get("content-type", "")
        cors = self.cors_headers(headers.get("origin"))
        if not content_type.startswith("application/grpc-web"):
            return GatewayReply(415, (*cors, ("Content-Length", "0")), b"")
        text = content_type.startswith("application/grpc-web-text")
        reply_type = "application/grpc-web-text+proto" if text else "application/grpc-web+proto"

        def failure(code: grpc.StatusCode, message: str,
                    trailing: Sequence[tuple[str, str | bytes]] = ()) -> GatewayReply:
            status = (("grpc-status", str(code.value[0])), ("grpc-message", encode_grpc_message(message)))
            return GatewayReply(200, (("Content-Type", reply_type), *cors, *status, *_http_metadata(trailing),
                                      ("Content-Length", "0")), b"")

        method = self._calls.get(path)
        if method is None:
            if path == _NOT_UNARY:
                return failure(grpc.StatusCode.UNIMPLEMENTED, "StreamingRecognize streams requests, which gRPC-Web "
                               "cannot carry: send each clip with Recognize")
            return failure(grpc.StatusCode.UNIMPLEMENTED, f"no such method over gRPC-Web: {path[:100]}")
        try:
            message = _unframe(base64_decode(body) if text else body)
        except ValueError as exc:
            return failure(grpc.StatusCode.INVALID_ARGUMENT, f"gRPC-Web request: {exc}")
        metadata = _request_metadata(headers)
        try:
            answer, call = method.with_call(message, timeout=parse_grpc_timeout(headers.get("grpc-timeout")),
                                            metadata=metadata)
        except grpc.RpcError as exc:
            rpc = exc if isinstance(exc, grpc.Call) else None
            code = rpc.code() if rpc is not None else grpc.StatusCode.UNKNOWN
            details = (rpc.details() if rpc is not None else None) or ""
            trailing = tuple(rpc.trailing_metadata() or ()) if rpc is not None else ()
            return failure(code, details, trailing)
        trailer = _trailer_block(call.trailing_metadata() or ())
        framed = _FRAME_HEADER.pack(0, len(answer)) + answer + _FRAME_HEADER.pack(_TRAILER_FLAG, len(trailer)) + trailer
        payload = base64.b64encode(framed) if text else framed
        return GatewayReply(200, (("Content-Type", reply_type), *cors,
                                  *_http_metadata(call.initial_metadata() or ()),
                                  ("Content-Length", str(len(payload)))), payload)


def base64_decode(body: bytes) -> bytes:
    """A grpc-web-text body: base64, perhaps several padded chunks one after another."""
    try:
        return b"".join(base64.b64decode(chunk + b"=" * (-len(chunk) % 4), validate=True)
                        for chunk in re.findall(rb"[A-Za-z0-9+/]+=*", body.strip()))
    except binascii.Error as exc:
        raise ValueError("the body is not base64") from exc


def _unframe(data: bytes) -> bytes:
    """The one message of a unary request body (flags byte, 4-byte big-endian length, message)."""
    if len(data) < _FRAME_HEADER.size:
        raise ValueError("the body is shorter than a frame header")
    flags, length = _FRAME_HEADER.unpack_from(data)
    if flags & _COMPRESSED_FLAG:
        raise ValueError("compressed messages are not accepted (send grpc-encoding identity)")
    if flags & _TRAILER_FLAG or len(data) != _FRAME_HEADER.size + length:
        raise ValueError("expected exactly one uncompressed message frame")
    return data[_FRAME_HEADER.size:]


def _request_metadata(headers: Mapping[str, str]) -> tuple[tuple[str, str | bytes], ...]:
    """The application's request headers as gRPC metadata."""
    metadata: list[tuple[str, str | bytes]] = []
    for name, value in headers.items():
        if name in _NOT_METADATA or name.startswith(("sec-", "access-control-", "grpc-")):
            continue
        if not _METADATA_KEY.fullmatch(name):
            continue
        if name.endswith("-bin"):
            try:
                metadata.append((name, base64_decode(value.encode("ascii"))))
            except (ValueError, UnicodeEncodeError):
                continue
        elif value.isascii() and value.isprintable():
            metadata.append((name, value))
    return tuple(metadata)


def _http_metadata(metadata: Sequence[tuple[str, str | bytes]]) -> tuple[tuple[str, str], ...]:
    """Response metadata as HTTP header lines (binary values base64, anything unsafe left out)."""
    lines = []
    for key, value in metadata:
        if isinstance(value, bytes):
            lines.append((key, base64.b64encode(value).decode("ascii")))
        elif value.isascii() and value.isprintable() and _METADATA_KEY.fullmatch(key):
            lines.append((key, value))
    return tuple(lines)


def _trailer_block(trailing: Sequence[tuple[str, str | bytes]]) -> bytes:
    """The trailer frame's payload of a successful call: status 0 and the trailing metadata."""
    lines = [("grpc-status", "0"), ("grpc-message", ""), *_http_metadata(trailing)]
    return "".join(f"{key}:{value}\r\n" for key, value in lines).encode("ascii")
