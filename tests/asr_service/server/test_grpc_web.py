"""gRPC-Web on the HTTP port (asr_service/server/_grpc_web.py): the same servicer, interceptors (metrics,
auth) and limits as native gRPC; binary and text framing; trailers; CORS; the browser client's files."""

from __future__ import annotations

import base64
import os
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from prometheus_client import CollectorRegistry

from asr_service.cli import main
from asr_service.config import ServerConfig
from asr_service.errors import ConfigError
from asr_service.server import BackgroundServer
from asr_service.server._grpc_web import encode_grpc_message, parse_grpc_timeout
from protos.asr.v1 import asr_pb2
from tests.fakes import FakeEngine, tone_bytes

RECOGNIZE = "/asr.v1.Recognizer/Recognize"
ORIGIN = "https://app.example.com"


@pytest.fixture()
def server() -> Iterator[BackgroundServer]:
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0, grpc_web_allowed_origins=(ORIGIN,))
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="over grpc web")).start()
    yield running
    running.stop(1.0)


def _request(text: str = "ok") -> asr_pb2.RecognizeRequest:
    return asr_pb2.RecognizeRequest(
        clip_id="clip-7",
        config=asr_pb2.RecognitionConfig(format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=16000)),
        audio=tone_bytes(1.0, 0.3),
        vad_stats=asr_pb2.VadStats(speech_ratio=0.75, pre_padding_ms=300, post_padding_ms=240, split=True))


def _post(port: int, path: str, body: bytes, *, text: bool = False,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    content_type = "application/grpc-web-text" if text else "application/grpc-web+proto"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST",
                                     data=base64.b64encode(body) if text else body,
                                     headers={"Content-Type": content_type, "X-Grpc-Web": "1", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            data = reply.read()
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, data
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _frame(message: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(message)) + message


def _unframe(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """(messages, trailers) of a gRPC-Web response body."""
    messages, trailers, at = [], {}, 0
    while at < len(body):
        flags, length = struct.unpack_from(">BI", body, at)
        payload = body[at + 5:at + 5 + length]
        at += 5 + length
        if flags & 0x80:
            for line in payload.decode("ascii").split("\r\n"):
                if line:
                    key, _, value = line.partition(":")
                    trailers[key.strip()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def _total(registry: CollectorRegistry, sample: str, **labels: str) -> float:
    return sum(s.value for metric in registry.collect() for s in metric.samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.mark.parametrize("text", [False, True], ids=["binary", "text"])
def test_recognize_over_grpc_web_reaches_the_servicer_and_its_metrics(server: BackgroundServer, text: bool) -> None:
    http_port = server.server.monitor.http_port
    assert http_port is not None
    registry = server.server.monitor.registry
    status, headers, body = _post(http_port, RECOGNIZE, _frame(_request().SerializeToString()), text=text)
    assert status == 200
    assert headers["content-type"] == ("application/grpc-web-text+proto" if text else "application/grpc-web+proto")
    messages, trailers = _unframe(base64.b64decode(body) if text else body)
    assert trailers["grpc-status"] == "0"
    (raw,) = messages
    reply = asr_pb2.RecognizeResponse.FromString(raw)
    assert reply.result.text == "over grpc web" and reply.result.clip_id == "clip-7"
    assert reply.result.model.model_version == "fake-1"
    # the same interceptor counted it, and the monitor saw the VAD stats the browser sent
    assert _total(registry, "asr_grpc_server_handled_total", grpc_method="Recognize", grpc_code="OK") == 1
    assert _total(registry, "asr_input_speech_ratio_count") == 1
    assert _total(registry, "asr_input_speech_ratio_sum") == pytest.approx(0.75)
    assert _total(registry, "asr_input_vad_split_total") == 1


def test_errors_are_trailers_only_with_the_servicers_status(server: BackgroundServer) -> None:
    http_port = server.server.monitor.http_port
    assert http_port is not None
    bad = _request()
    bad.config.format.sample_rate_hz = 7
    status, headers, body = _post(http_port, RECOGNIZE, _frame(bad.SerializeToString()))
    assert (status, body) == (200, b"")
    assert headers["grpc-status"] == "3"  # INVALID_ARGUMENT, from the servicer's own validation
    assert "sample_rate_hz" in unquote(headers["grpc-message"])
    # bytes that do not parse: the decode guard's answer, as for native gRPC
    _, headers, _ = _post(http_port, RECOGNIZE, _frame(b"\xff\xff\xff"))
    assert headers["grpc-status"] == "3"
    # no frame at all: the gateway's own INVALID_ARGUMENT
    _, headers, _ = _post(http_port, RECOGNIZE, b"\x00\x00")
    assert headers["grpc-status"] == "3" and "frame" in unquote(headers["grpc-message"])
    # a request stream cannot travel over gRPC-Web: said plainly
    _, headers, _ = _post(http_port, "/asr.v1.Recognizer/StreamingRecognize", _frame(b""))
    assert headers["grpc-status"] == "12" and "Recognize" in unquote(headers["grpc-message"])
    registry = server.server.monitor.registry
    assert _total(registry, "asr_grpc_server_handled_total", grpc_method="Recognize", grpc_code="INVALID_ARGUMENT") == 2


def test_list_models_and_health_answer(server: BackgroundServer) -> None:
    http_port = server.server.monitor.http_port
    assert http_port is not None
    _, _, body = _post(http_port, "/asr.v1.Recognizer/ListModels", _frame(b""))
    messages, trailers = _unframe(body)
    assert trailers["grpc-status"] == "0"
    models = asr_pb2.ListModelsResponse.FromString(messages[0])
    assert [m.model_version for m in models.models] == ["fake-1"]
    _, _, body = _post(http_port, "/grpc.health.v1.Health/Check", _frame(b""))
    messages, trailers = _unframe(body)
    assert trailers["grpc-status"] == "0" and messages[0] == b"\x08\x01"  # status: SERVING


def test_cors_for_the_configured_origins_only(server: BackgroundServer) -> None:
    http_port = server.server.monitor.http_port
    assert http_port is not None

    def preflight(origin: str) -> tuple[int, dict[str, str]]:
        request = urllib.request.Request(f"http://127.0.0.1:{http_port}{RECOGNIZE}", method="OPTIONS",
                                         headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status, {k.lower(): v for k, v in reply.headers.items()}
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    status, headers = preflight(ORIGIN)
    assert status == 204 and headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in headers["access-control-allow-headers"]
    assert preflight("https://evil.example.com")[0] == 403
    _, headers, _ = _post(http_port, RECOGNIZE, _frame(_request().SerializeToString()), headers={"Origin": ORIGIN})
    assert headers["access-control-allow-origin"] == ORIGIN
    assert "grpc-status" in headers["access-control-expose-headers"]
    _, headers, _ = _post(http_port, RECOGNIZE, _frame(_request().SerializeToString()),
                          headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in headers


def test_the_token_travels_as_metadata_to_the_auth_interceptor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auth", "add-token", "--file", str(tmp_path / "tokens.toml"), "--client", "web",
                 "--scopes", "recognize"]) == 0
    token = capsys.readouterr().out.strip()
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0, auth_tokens_file=str(tmp_path / "tokens.toml"))
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="authorised")).start()
    try:
        http_port = running.server.monitor.http_port
        assert http_port is not None
        body = _frame(_request().SerializeToString())
        _, headers, _ = _post(http_port, RECOGNIZE, body)
        assert headers["grpc-status"] == "16"  # UNAUTHENTICATED
        _, _, reply = _post(http_port, RECOGNIZE, body, headers={"Authorization": f"Bearer {token}"})
        messages, trailers = _unframe(reply)
        assert trailers["grpc-status"] == "0"
        assert asr_pb2.RecognizeResponse.FromString(messages[0]).result.text == "authorised"
        registry = running.server.monitor.registry
        assert _total(registry, "asr_client_calls_total", client="web") == 1
        # the page itself is static and open: the calls carry the token
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/app/", timeout=5) as page:
            assert b"<script" in page.read()
        socket_dir = running.server._grpc_web_dir
        assert socket_dir is not None and os.stat(socket_dir).st_mode & 0o077 == 0
    finally:
        running.stop(1.0)
    assert not os.path.exists(socket_dir)


def test_grpc_message_is_percent_encoded_as_the_spec_says() -> None:
    assert encode_grpc_message("ok: 100% done") == "ok: 100%25 done"
    assert encode_grpc_message("café\r\n") == "caf%C3%A9%0D%0A"
    assert parse_grpc_timeout("1500m") == pytest.approx(1.5)
    assert parse_grpc_timeout("2S") == 2.0
    assert parse_grpc_timeout("99999H") == 300.0  # capped
    assert parse_grpc_timeout("soon") == 30.0


def test_allowed_origins_are_checked() -> None:
    with pytest.raises(ConfigError, match="grpc_web_allowed_origins"):
        ServerConfig(grpc_web_allowed_origins=("https://app.example.com/path",))
    assert ServerConfig(grpc_web_allowed_origins=("*", "http://localhost:8080")).grpc_web_allowed_origins
