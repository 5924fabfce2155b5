"""`asr deploy` against a real server on loopback (the embedded model, the HTTP port on port 0).

One server for the module: each test leaves the deployment as it found it (the primary alone), and
every refused command is checked to change nothing, by the server's own state before and after.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vad
from asr_service.cli import main
from asr_service.cli._demo import sample_path
from asr_service.client import AsrClient
from asr_service.config import ServerConfig
from asr_service.engines._model_files import resolve_model
from asr_service.server import BackgroundServer
from tests.certs import authority
from tests.fakes import FakeEngine

PRIMARY = "whisper-tiny.en"


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    background = BackgroundServer(ServerConfig(port=0, http_port=0)).start()
    try:
        yield background
    finally:
        background.stop()


@pytest.fixture(scope="module")
def url(server: BackgroundServer) -> str:
    return f"http://127.0.0.1:{server.server.monitor.http_port}"


@pytest.fixture(scope="module")
def clips() -> list[vad.Clip]:
    found = list(vad.iter_file_clips(sample_path(), vad.VadOptions()))
    assert len(found) == 2  # the JFK recording: two utterances
    return found


def deploy(url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`asr deploy ARGV --url URL` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main(["deploy", *argv, "--url", url])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def state(url: str) -> dict[str, Any]:
    """GET /api/deploy, read without the CLI."""
    with urllib.request.urlopen(f"{url}/api/deploy", timeout=30) as answer:
        data: dict[str, Any] = json.load(answer)
    return data


def stable(data: dict[str, Any]) -> dict[str, Any]:
    """The state without the figures that move with traffic alone."""
    models = [{k: v for k, v in m.items() if k not in ("in_flight", "mean_inference_ms")} for m in data["models"]]
    return {**data, "models": models}


def versions_answering(target: str, clips: list[vad.Clip]) -> set[str]:
    with AsrClient(target) as client:
        return {client.recognize_clip(clip).model_version for clip in clips}


def test_status_prints_the_models_and_json_is_the_servers(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = deploy(url, capsys, "status")
    assert (code, err) == (0, "")
    version = state(url)["models"][0]["model_version"]
    assert f"primary   {PRIMARY}" in out
    row = next(line for line in out.splitlines() if line.startswith(PRIMARY))
    assert row.split()[:4] == [PRIMARY, "primary", version, "tiny.en"]
    assert "canary    none" in out and "shadow    none" in out and "recent events" in out
    code, out, _ = deploy(url, capsys, "status", "--json")
    assert code == 0
    printed = json.loads(out)
    assert printed["enabled"] is True and printed["primary"] == PRIMARY
    assert stable(printed)["models"] == stable(state(url))["models"]


def test_load_switch_rollback_unload(url: str, server: BackgroundServer, clips: list[vad.Clip],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    before = state(url)
    base_version = before["models"][0]["model_version"]
    code, out, err = deploy(url, capsys, "load", "tiny.en", "--id", "slow-copy", "--faults", "latency_ms=1")
    assert (code, err) == (0, "")
    copy_version = f"{base_version}+faults-lat1"
    assert out.startswith(f"loaded slow-copy ({copy_version})")
    roles = {m["model_id"]: m["role"] for m in state(url)["models"]}
    assert roles == {PRIMARY: "primary", "slow-copy": "standby"}
    assert versions_answering(server.target, clips) == {base_version}  # a standby takes no default traffic
    loaded = stable(state(url))
    code, out, err = deploy(url, capsys, "canary", "slow-copy", "--steps", "5,50")
    assert (code, out) == (1, "") and "must be increasing percents in (0, 100] ending at 100 (HTTP 409)" in err
    assert stable(state(url)) == loaded

    code, out, err = deploy(url, capsys, "switch", "slow-copy")
    assert (code, err) == (0, "")
    assert out.startswith("switched: slow-copy is the primary")
    assert state(url)["primary"] == "slow-copy" and state(url)["previous"] == PRIMARY
    assert versions_answering(server.target, clips) == {copy_version}

    code, out, err = deploy(url, capsys, "rollback")
    assert (code, err) == (0, "")
    assert out.startswith(f"primary is {PRIMARY} again (was slow-copy; operator)")
    assert versions_answering(server.target, clips) == {base_version}

    code, out, err = deploy(url, capsys, "unload", "slow-copy")
    assert (code, out.strip(), err) == (0, "unloaded slow-copy", "")
    after = state(url)
    assert [m["model_id"] for m in after["models"]] == [PRIMARY] and after["previous"] is None
    assert [e["action"] for e in after["events"][-4:]] == ["load", "switch", "rollback", "unload"]


@pytest.fixture()
def broken_model(tmp_path: Path) -> Path:
    """A model directory with every file in place and a garbage model.bin."""
    source = resolve_model("tiny.en").path
    folder = tmp_path / "broken-model"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (folder / name).write_bytes((source / name).read_bytes())
    (folder / "model.bin").write_bytes(b"not a model" * 1000)
    return folder


REFUSED = [
    (("switch", "nope"), "no model 'nope' is loaded"),
    (("canary", "nope"), "no model 'nope' is loaded"),
    (("unload", "nope"), "no model 'nope' is loaded"),
    (("shadow", "nope"), "no model 'nope' is loaded"),
    (("canary", PRIMARY), f"{PRIMARY} is the primary; a canary is another model"),
    (("switch", PRIMARY), f"{PRIMARY} is the primary already"),
    (("promote",), "no canary is running"),
    (("unload", PRIMARY), f"{PRIMARY} is the primary; switch to another model first"),
    (("shadow", PRIMARY), f"{PRIMARY} is the primary; a shadow is another model"),
    (("shadow", "--stop"), "no shadow is running"),
    (("load", "tiny.en"), f"a model with id '{PRIMARY}' is loaded already"),
    (("load", "tiny.en", "--id", "again"), "a version is served once"),
    (("load", "tiny.en", "--id", "bad id!"), "model id: 'bad id!'"),
]


@pytest.mark.parametrize(("argv", "message"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_a_refused_command_says_why_exits_1_and_changes_nothing(
        url: str, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str) -> None:
    before = stable(state(url))
    code, out, err = deploy(url, capsys, *argv)
    assert code == 1, (out, err)
    assert out == ""
    assert err.startswith(f"asr: error: {argv[0]}: refused: ") and err.count("\n") == 1
    assert message in err
    assert stable(state(url)) == before


def test_a_broken_model_directory_is_refused_and_changes_nothing(
        url: str, broken_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = stable(state(url))
    code, out, err = deploy(url, capsys, "load", str(broken_model), "--id", "broken")
    assert (code, out) == (1, "")
    assert f"cannot load {str(broken_model)!r}" in err and "(HTTP 400)" in err and err.count("\n") == 1
    assert stable(state(url)) == before


@pytest.mark.parametrize("argv", [
    ("load", "tiny.en", "--faults", "empty_rate"),
    ("load", "tiny.en", "--faults", "loudness=3"),
    ("load", "tiny.en", "--faults", "empty_rate=2"),  # out of range: the server's own parser, run here first
    ("canary", "x", "--steps", "5,half,100"),
    ("shadow",),
    ("shadow", "x", "--stop"),
    ("frobnicate",),
], ids=" ".join)
def test_bad_usage_exits_2_before_anything_is_sent(url: str, capsys: pytest.CaptureFixture[str],
                                                    argv: tuple[str, ...]) -> None:
    before = stable(state(url))
    code, out, err = deploy(url, capsys, *argv)
    assert code == 2 and out == "" and "error" in err
    assert stable(state(url)) == before


def test_an_unreachable_server_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = deploy(f"http://127.0.0.1:{port}", capsys, "status")
    assert (code, out) == (3, "")
    assert err == f"asr: error: http://127.0.0.1:{port}: cannot reach the server's HTTP port (Connection refused)\n"


def test_the_url_comes_from_the_environment(url: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASR_ADMIN_URL", url)
    capsys.readouterr()
    assert main(["deploy", "status"]) == 0
    assert f"primary   {PRIMARY}" in capsys.readouterr().out


def test_shadow_report_writes_a_page_with_both_texts_and_the_audio(
        url: str, server: BackgroundServer, clips: list[vad.Clip], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = deploy(url, capsys, "load", "tiny.en", "--id", "half-deaf", "--faults", "empty_rate=0.5")
    assert (code, err) == (0, "")
    try:
        code, out, err = deploy(url, capsys, "shadow", "half-deaf", "--sample", "1")
        assert (code, out.strip(), err) == (0, "shadow: half-deaf", "")
        with AsrClient(server.target, logging_consent="audio") as client:
            texts = set()
            for _ in range(4):
                for clip in clips:
                    texts.add(client.recognize_clip(clip).text)
                    time.sleep(0.05)
                    deadline = time.monotonic() + 30  # one shadow clip at a time, only when a worker is free
                    while (state(url)["shadow"]["compared"] + state(url)["shadow"]["dropped_busy"]
                           < state(url)["shadow"]["offered"]) and time.monotonic() < deadline:
                        time.sleep(0.05)
        shadow = state(url)["shadow"]
        assert shadow["compared"] >= 4 and shadow["null_shadow_only"] >= 1  # seed 0: 3 of the first 8 empty

        code, out, err = deploy(url, capsys, "report")
        assert (code, err) == (0, "")
        assert "WER vs primary" in out and "the 5 clips where the shadow disagrees most" not in out
        assert "  primary  AND SO MY FELLOW AMERICANS" in out or "  primary  ASK WHAT YOU CAN DO" in out

        folder = tmp_path / "report"
        code, out, err = deploy(url, capsys, "report", "-o", str(folder))
        assert (code, err) == (0, "")
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        pairs = report["pairs"]
        assert len(pairs) == shadow["null_shadow_only"] and all(p["has_audio"] for p in pairs)
        assert out.strip() == f"wrote {folder / 'report.html'} ({len(pairs)} pair(s), {len(pairs)} with audio) " \
                              "and report.json"
        page = (folder / "report.html").read_text(encoding="utf-8")
        assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "http" not in page.lower()
        assert page.count("<audio ") == len(pairs) and page.count('<div class="pair">') == len(pairs)
        for pair in pairs:
            assert pair["primary_text"] in texts and pair["shadow_text"] == ""
            assert f'src="clip-{pair["id"]}.wav"' in page
            assert f"<pre>{pair['aligned'][0]}" in page
            with wave.open(str(folder / f"clip-{pair['id']}.wav")) as wav:
                assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
                assert wav.getnframes() / 16000 > 1.0  # a whole utterance
        assert report["shadow"]["model_id"] == "half-deaf"
    finally:
        deploy(url, capsys, "shadow", "--stop")
        code, _, err = deploy(url, capsys, "unload", "half-deaf")
        assert (code, err) == (0, "")


def test_a_report_without_a_shadow_says_so(url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = deploy(url, capsys, "report")
    assert (code, out) == (0, "no shadow is running (asr deploy shadow ID)\n")
    code, _, _ = deploy(url, capsys, "report", "-o", str(tmp_path))
    assert code == 0 and "No shadow was running." in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_https_with_scoped_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ca = authority(tmp_path / "pki")
    leaf = ca.issue("server")
    tokens = {}
    for client, scopes in (("grafana", "metrics"), ("operator", "admin,metrics")):
        assert main(["auth", "add-token", "--file", str(tmp_path / "tokens.toml"), "--client", client,
                     "--scopes", scopes]) == 0
        tokens[client] = capsys.readouterr().out.strip()
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0, tls_cert_file=str(leaf.cert),
                          tls_key_file=str(leaf.key), auth_tokens_file=str(tmp_path / "tokens.toml"))
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine()).start()
    try:
        https = f"https://127.0.0.1:{running.server.monitor.http_port}"
        trust = ("--tls-ca", str(ca.cert))
        monkeypatch.delenv("ASR_TOKEN", raising=False)
        code, out, err = deploy(https, capsys, "status", *trust)
        assert (code, out) == (1, "") and "(HTTP 401)" in err
        monkeypatch.setenv("ASR_TOKEN", tokens["grafana"])
        code, out, err = deploy(https, capsys, "status", *trust)
        assert (code, err) == (0, "") and "fake-1" in out
        code, out, err = deploy(https, capsys, "rollback", *trust)
        assert (code, out) == (1, "") and "admin" in err and "(HTTP 403)" in err
        monkeypatch.setenv("ASR_TOKEN", tokens["operator"])
        code, out, err = deploy(https, capsys, "rollback", *trust)  # past the token: refused by the state
        assert (code, out) == (1, "") and "nothing to roll back to" in err and "(HTTP 409)" in err
        code, out, err = deploy(https, capsys, "status")  # a certificate the system's CAs did not sign
        assert (code, out) == (3, "") and "CERTIFICATE_VERIFY_FAILED" in err
        code, out, err = deploy(https.replace("https", "http"), capsys, "status", *trust)
        assert (code, out) == (2, "") and "use https://" in err
    finally:
        running.stop(1.0)


@pytest.mark.slow
def test_demo_rollout_rolls_back_the_faulty_canary_and_promotes_the_healthy_one() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASR_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "asr_service.cli", "demo", "--rollout"], capture_output=True,
                          text=True, timeout=180, env=env, check=False)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "ROLLED BACK automatically: tiny-faulty at " in out
    assert "null_rate guard failed" in out
    assert "PROMOTED: tiny-v2 is the primary after passing 3 steps" in out
    assert out.index("ROLLED BACK") < out.index("PROMOTED")
    final = out[out.index("PROMOTED"):]
    assert "primary   tiny-v2   (previous: whisper-tiny.en)" in final
    assert "canary    none" in final
    assert "rehearsal done in" in out
    assert took < 120, f"the rehearsal took {took:.0f} s"
