"""Webhook receiver, clip manifest, Label Studio session errors and the public surface, without a server."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import labeling
from labeling import (
    InputError,
    LabelStudioAuthError,
    LabelStudioConfig,
    LabelStudioError,
    LabelStudioSession,
    LabelStudioUnavailable,
    Linter,
    WebhookConfig,
    WebhookReceiver,
    load_spec,
)
from labeling._clips import local_files_url, read_clips, storage_dirs
from labeling._ls_tasks import merge_lint_meta
from labeling._webhook import SECRET_HEADER

PACKAGE = Path(labeling.__file__).parent
TOKEN = "f" * 40


def test_all_is_true_and_every_name_documented() -> None:
    for name in labeling.__all__:
        assert getattr(labeling, name).__doc__, name
    assert sorted(labeling.__all__) == labeling.__all__


def test_importing_labeling_loads_neither_protos_nor_the_server() -> None:
    # Of asr_service, only the shared JSON-lines reader (and its lazy package): no gRPC, no protos, even
    # indirectly. A fresh interpreter, so that modules loaded by other tests cannot hide an import.
    code = ("import sys, json, labeling, labeling.cli; [getattr(labeling, n) for n in labeling.__all__]; "
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert {m for m in loaded if m.split(".")[0] == "asr_service"} == {"asr_service", "asr_service._lazy",
                                                                      "asr_service.jsonl"}
    assert not {m.split(".")[0] for m in loaded} & {"grpc", "protos"}


def test_no_module_imports_protos_and_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("protos"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("protos") for a in node.names), path
        assert len(path.read_text().splitlines()) <= 500, path


# -- webhook receiver -------------------------------------------------------------------------------------

def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(WebhookConfig(port=0), Linter(load_spec()), session=None)
    hook.start()
    yield hook
    hook.stop()


def _payload(text: str, action: str = "ANNOTATION_CREATED") -> bytes:
    return json.dumps({
        "action": action,
        "annotation": {"id": 5, "task": 9, "completed_by": 2, "result": [
            {"type": "textarea", "from_name": "transcription", "to_name": "audio", "value": {"text": [text]}}]},
        "task": {"id": 9, "data": {"audio": "/data/local-files/?d=a.wav"}},
        "project": {"id": 1},
    }).encode()


def test_webhook_lints_inline(receiver: WebhookReceiver) -> None:
    # The lint result is in the response itself: the work is done before answering (bench_labeling.py
    # measures lint speed, ~0.1 ms a transcript, far inside Label Studio's 1 s webhook timeout).
    status, body = _post(receiver.url, _payload("Um, hello"))
    assert status == 200
    assert body == {"task": 9, "annotation": 5, "errors": 2, "warnings": 0}
    assert _post(receiver.url, _payload("um hello", "ANNOTATION_UPDATED"))[1]["errors"] == 0


def test_webhook_ignores_other_actions_and_rejects_garbage(receiver: WebhookReceiver) -> None:
    assert _post(receiver.url, b'{"action": "PROJECT_UPDATED"}') == (200, {"ignored": "PROJECT_UPDATED"})
    assert _post(receiver.url, b"not json")[0] == 400
    assert _post(receiver.url, b'{"action": "ANNOTATION_CREATED"}')[0] == 400


def _raw(port: int, request: bytes, wait_s: float = 5.0) -> bytes:
    """Send bytes as they are (a client that lies about its body) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("body", [
    b'{"action": "ANNOTATION_CREATED", "annotation": {"id": "x"}, "task": {"id": 1}}',
    b'{"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": "nope"}, "task": {"id": "t"}}',
    b'{"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": [1, 2]}, "task": {"id": 1}}',
    b'{"action": "ANNOTATION_CREATED", "annotation": {"id": 1, "result": [{"type": "textarea", '
    b'"from_name": "transcription", "value": "text"}]}, "task": {"id": 1}}',
    b'{"action": "ANNOTATION_CREATED", "annotation": {"id": null}, "task": {}}',
    b"[]", b'"text"', b"\xff\xfe",
])
def test_malformed_bodies_get_a_4xx_answer(receiver: WebhookReceiver, body: bytes) -> None:
    assert 400 <= _post(receiver.url, body)[0] < 500


def test_lying_content_lengths_are_refused_and_free_their_thread() -> None:
    hook = WebhookReceiver(WebhookConfig(port=0, read_timeout_s=1.0), Linter(load_spec()), session=None)
    hook.start()
    try:
        negative = _raw(hook.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}")
        assert negative.startswith(b"HTTP/1.0 400")  # -1 once read to the end of the stream, past the cap
        started = time.monotonic()
        short = _raw(hook.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}")
        assert time.monotonic() - started < 4  # the read times out; the thread is not held for good
        assert short == b"" or short.startswith(b"HTTP/1.0 400")
    finally:
        hook.stop()


def test_a_secret_keeps_strangers_out() -> None:
    hook = WebhookReceiver(WebhookConfig(port=0, secret="s3cret"), Linter(load_spec()), session=None)
    hook.start()
    try:
        assert _post(hook.url, _payload("hello"))[0] == 401
        request = urllib.request.Request(hook.url, data=_payload("hello"), headers={SECRET_HEADER: "s3cret"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        hook.stop()


def test_merge_lint_meta_keeps_other_meta_and_other_annotations() -> None:
    first = merge_lint_meta({"owner": "x"}, "c@1", {1: {"errors": 2, "warnings": 0}}, replace_all=False)
    second = merge_lint_meta(first, "c@1", {2: {"errors": 0, "warnings": 1}}, replace_all=False)
    assert second["owner"] == "x"
    assert set(second["convention_lint"]["annotations"]) == {"1", "2"}
    assert second["convention_lint"]["errors"] == 2 and not second["convention_lint"]["clean"]
    full = merge_lint_meta(second, "c@1", {2: {"errors": 0, "warnings": 0}}, replace_all=True)
    assert set(full["convention_lint"]["annotations"]) == {"2"} and full["convention_lint"]["clean"]


# -- clip manifest --------------------------------------------------------------------------------------

def test_read_clips_resolves_paths_and_keeps_extra_fields(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a b.wav").write_bytes(b"RIFF")
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"audio": "audio/a b.wav", "text": "hi", "confidence": 0.4,
                                    "model_version": "tiny", "start_s": 1, "end_s": 2.5, "speaker": "s1"}) + "\n")
    (clip,) = read_clips(manifest, document_root=tmp_path)
    assert clip.audio_path == tmp_path / "audio" / "a b.wav"
    assert (clip.start_s, clip.end_s, clip.confidence, clip.extra) == (1.0, 2.5, 0.4, {"speaker": "s1"})
    assert local_files_url(clip.audio_path, tmp_path) == "/data/local-files/?d=audio/a%20b.wav"
    assert storage_dirs([clip], tmp_path) == [tmp_path / "audio"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "x"}', "no 'audio' path"),
        ('{"audio": "missing.wav"}', "audio file not found: "),
        ('{"audio": "a.wav", "confidence": 2}', "confidence 2.0 is outside [0, 1]"),
        ('{"audio": "a.wav", "start_s": 2, "end_s": 1}', "end_s (1.0) must be after start_s (2.0)"),
        ('{"audio": "a.wav", "text": 3}', "'text' must be a string"),
        ("[1]", "not a JSON object (an array)"),
        ("{", "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ],
)
def test_bad_manifest_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "a.wav"}\n' + line + "\n")
    with pytest.raises(InputError) as info:
        read_clips(manifest, document_root=Path("/"))
    assert str(info.value).startswith(f"{manifest}:2: ") and message in str(info.value)


def test_audio_outside_document_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "a.wav"}\n')
    with pytest.raises(InputError, match="outside the document root /srv/nowhere"):
        read_clips(manifest, document_root=Path("/srv/nowhere"))


# -- Label Studio session: configuration and errors ----------------------------------------------------

def test_config_from_env_and_file_never_shows_the_key(tmp_path: Path) -> None:
    path = tmp_path / "ls.toml"
    path.write_text(f'url = "http://file:1/"\napi_key = "{TOKEN}"\ndocument_root = "/data"\n')
    config = LabelStudioConfig.load(path, env={})
    assert (config.url, config.document_root) == ("http://file:1", Path("/data"))
    assert TOKEN not in repr(config)
    config = LabelStudioConfig.load(path, env={"LABEL_STUDIO_URL": "http://env:2"})
    assert config.url == "http://env:2" and config.api_key == TOKEN
    with pytest.raises(LabelStudioAuthError, match="no Label Studio API key"):
        LabelStudioConfig.load(None, env={"LABEL_STUDIO_URL": "http://x"})
    path.write_text('url = "http://x"\napi_kee = "k"\n')
    with pytest.raises(LabelStudioError, match="unknown key 'api_kee'"):
        LabelStudioConfig.load(path, env={})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_is_one_clear_error() -> None:
    config = LabelStudioConfig(url=f"http://127.0.0.1:{_free_port()}", api_key=TOKEN, timeout_s=5)
    with pytest.raises(LabelStudioUnavailable, match="does not answer") as info:
        LabelStudioSession.connect(config)
    assert TOKEN not in str(info.value)


class _Rejecting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"detail": "Invalid token."}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "sessionid=secret-cookie")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_bad_token_is_one_clear_error_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rejecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = LabelStudioConfig(url=f"http://127.0.0.1:{server.server_address[1]}", api_key=TOKEN)
        with caplog.at_level("DEBUG"), pytest.raises(LabelStudioAuthError, match="rejected the API key") as info:
            LabelStudioSession.connect(config)
    finally:
        server.shutdown()
        server.server_close()
    assert "Invalid token." in str(info.value)
    assert TOKEN not in str(info.value) and "secret-cookie" not in str(info.value)
    assert TOKEN not in caplog.text
