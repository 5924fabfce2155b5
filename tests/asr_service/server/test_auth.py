"""Bearer tokens with scopes on both ports: UNAUTHENTICATED without a known token, PERMISSION_DENIED
without the scope, health open, tokens never logged, a revoked token refused at the next request."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from asr_service.auth import TokenFile, hash_token
from asr_service.cli import main
from asr_service.client import AsrClient
from asr_service.config import ServerConfig
from asr_service.deployment import Deployment, ModelSpec
from asr_service.engines import EngineInfo
from asr_service.errors import ClientError, ConfigError
from asr_service.server import BackgroundServer
from tests.fakes import FakeEngine, tone_bytes

AUDIO = tone_bytes(1.0, 0.3)


@pytest.fixture()
def tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    made = {}
    for client, scopes in (("phone-app", "recognize"), ("prometheus", "metrics")):
        assert main(["auth", "add-token", "--file", str(tmp_path / "tokens.toml"), "--client", client,
                     "--scopes", scopes]) == 0
        made[client] = capsys.readouterr().out.strip()
    made["file"] = str(tmp_path / "tokens.toml")
    return made


@pytest.fixture()
def server(tokens: dict[str, str]) -> Iterator[BackgroundServer]:
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0, auth_tokens_file=tokens["file"])
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="authorised")).start()
    yield running
    running.stop(1.0)


def _status(port: int, path: str, token: str | None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_grpc_port_wants_a_token_with_the_recognize_scope(
    server: BackgroundServer, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with AsrClient(server.target, token=tokens["phone-app"]) as client:
        assert client.recognize(AUDIO).text == "authorised"
        assert [r.text for r in client.stream([])] == []
    answers = {}
    for name, token in (("none", None), ("unknown", "asr_not-a-token"), ("metrics-only", tokens["prometheus"])):
        with AsrClient(server.target, token=token) as client, pytest.raises(ClientError) as info:
            client.recognize(AUDIO)
        answers[name] = str(info.value)
    assert "UNAUTHENTICATED" in answers["none"] and "no token" in answers["none"]
    assert "UNAUTHENTICATED" in answers["unknown"] and "unknown token" in answers["unknown"]
    assert "PERMISSION_DENIED" in answers["metrics-only"] and "lacks the 'recognize' scope" in answers["metrics-only"]
    with grpc.insecure_channel(server.target) as channel:  # probes need no token
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert tokens["phone-app"] not in logged and tokens["prometheus"] not in logged
    metrics = server.server.monitor.registry
    assert metrics.get_sample_value("asr_client_calls_total", {"client": "phone-app"}) == 2
    assert metrics.get_sample_value("asr_auth_refused_total", {"reason": "scope"}) == 1
    assert metrics.get_sample_value("asr_auth_refused_total", {"reason": "no_token"}) == 1


def test_the_http_port_wants_the_metrics_scope(server: BackgroundServer, tokens: dict[str, str]) -> None:
    port = server.server.monitor.http_port
    assert port is not None
    assert _status(port, "/metrics", None) == 401
    assert _status(port, "/metrics", "asr_not-a-token") == 401
    assert _status(port, "/metrics", tokens["phone-app"]) == 403
    assert _status(port, "/metrics", tokens["prometheus"]) == 200
    assert _status(port, "/api/alarms", tokens["prometheus"]) == 200
    assert _status(port, "/healthz", None) == 200


def test_a_removed_token_is_refused_at_the_next_request(server: BackgroundServer, tokens: dict[str, str]) -> None:
    path = Path(tokens["file"])
    with AsrClient(server.target, token=tokens["phone-app"]) as client:
        assert client.recognize(AUDIO).text == "authorised"
        kept = path.read_text().split("[[token]]")
        time.sleep(0.01)
        path.write_text("[[token]]".join(part for part in kept if "phone-app" not in part))
        with pytest.raises(ClientError, match="UNAUTHENTICATED"):
            client.recognize(AUDIO)


def test_the_token_file_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('[[token]]\nclient = "x"\nsha256 = "abc"\nscopes = ["recognize"]\n')
    with pytest.raises(ConfigError, match="sha256 must be 64 hex digits"):
        TokenFile(str(bad))
    bad.write_text(f'[[token]]\nclient = "x"\nsha256 = "{hash_token("t")}"\nscopes = ["root"]\n')
    with pytest.raises(ConfigError, match="scopes must be a non-empty list of recognize"):
        TokenFile(str(bad))
    with pytest.raises(ConfigError, match="auth_tokens_file: '/no/such' is out of range"):
        ServerConfig(auth_tokens_file="/no/such")


class _Named(FakeEngine):
    """A fake model whose version is its source (two of them can be loaded side by side)."""

    def __init__(self, source: str) -> None:
        super().__init__(text=source)
        self.source = source

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id=f"m-{self.source}", model_version=f"{self.source}-1", engine="test",
                          config_hash="0")


def test_the_token_name_is_the_canary_key_when_a_client_sends_no_id(tokens: dict[str, str]) -> None:
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0, auth_tokens_file=tokens["file"])
    running = BackgroundServer(config, engine_factory=lambda options: _Named(options.model)).start()
    try:
        deployment = running.server.deployment
        running.call(deployment.load(ModelSpec(source="b")))
        running.call(_start_canary(deployment))
        with AsrClient(running.target, token=tokens["phone-app"]) as client:
            roles = {client.recognize(AUDIO, sample_rate_hz=16_000).role for _ in range(12)}
        assert len(roles) == 1  # every request of the client on one side, though each has its own request id
        sides = set()
        for i in range(12):  # with an x-client-id, the id decides: a fleet of devices behind one token spreads
            with AsrClient(running.target, token=tokens["phone-app"], client_id=f"device-{i}") as client:
                sides.add(client.recognize(AUDIO, sample_rate_hz=16_000).role)
        assert sides == {"primary", "canary"}
    finally:
        running.stop(1.0)


async def _start_canary(deployment: Deployment) -> None:
    deployment.start_canary("m-b", (50.0, 100.0))
