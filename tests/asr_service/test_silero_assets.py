"""The Silero VAD's assets (asr_service/webapp/_silero.py): pinned to what web/package-lock.json locks;
installed from a registry over HTTP (integrity and hashes checked, nothing half-written) or from
node_modules; served at /app/silero/ with an ETag; `asr silero install|status`; vad/'s "silero" detector."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from asr_service.cli import main
from asr_service.config import ServerConfig
from asr_service.server import BackgroundServer
from asr_service.webapp import _silero
from asr_service.webapp._silero import SILERO_ASSETS, SileroAssets, install, missing
from tests.fakes import FakeEngine
from tests.paths import JFK_SAMPLE, REPO_ROOT
from vad import Segmenter, VadOptions, read_audio
from vad.detectors import SileroModelMissing

NODE_MODULES = REPO_ROOT / "web" / "node_modules"
needs_node_modules = pytest.mark.skipif(not (NODE_MODULES / "onnxruntime-web").is_dir(),
                                        reason="needs web/node_modules: run `npm ci` in web/ (scripts/test does)")


def test_the_pins_are_the_versions_web_package_lock_json_locks() -> None:
    lock = json.loads((REPO_ROOT / "web" / "package-lock.json").read_text())
    for asset in SILERO_ASSETS:
        locked = lock["packages"][f"node_modules/{asset.package}"]
        assert (asset.version, asset.integrity) == (locked["version"], locked["integrity"]), asset.name
        assert lock["packages"][""]["devDependencies"][asset.package] == asset.version, "pinned exactly"


class _Registry(BaseHTTPRequestHandler):
    tarballs: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.tarballs.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def registry() -> Iterator[tuple[str, dict[str, bytes]]]:
    tarballs: ClassVar[dict[str, bytes]] = {}
    handler = type("Registry", (_Registry,), {"tarballs": tarballs})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tarballs
    server.shutdown()
    server.server_close()


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_install_downloads_checks_and_extracts(registry: tuple[str, dict[str, bytes]], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url, tarballs = registry
    model, runtime = b"a stand-in model" * 100, b"\0asm stand-in runtime" * 1000
    packed = {"vad": _tarball({"dist/m.onnx": model, "README.md": b"x"}), "ort": _tarball({"dist/r.wasm": runtime})}
    assets = (
        _silero.SileroAsset("m.onnx", "@scope/vad", "1.0.0", _integrity(packed["vad"]), "dist/m.onnx",
                            hashlib.sha256(model).hexdigest(), "application/octet-stream"),
        _silero.SileroAsset("r.wasm", "ort", "2.0.0", _integrity(packed["ort"]), "dist/r.wasm",
                            hashlib.sha256(runtime).hexdigest(), "application/wasm"),
    )
    monkeypatch.setattr(_silero, "SILERO_ASSETS", assets)
    tarballs["/@scope/vad/-/vad-1.0.0.tgz"] = packed["vad"]
    tarballs["/ort/-/ort-2.0.0.tgz"] = packed["ort"]
    seen: list[tuple[str, int, int]] = []
    paths = install(tmp_path, registry=url, progress=lambda u, done, total: seen.append((u, done, total)))
    assert [p.read_bytes() for p in paths] == [model, runtime]
    assert seen[-1] == (f"{url}/ort/-/ort-2.0.0.tgz", len(packed["ort"]), len(packed["ort"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "r.wasm"], "no temporary file left"

    # a tarball that is not the pinned one is refused before anything is written
    (tmp_path / "r.wasm").unlink()
    tarballs["/ort/-/ort-2.0.0.tgz"] = _tarball({"dist/r.wasm": b"tampered"})
    with pytest.raises(ValueError, match=r"ort@2\.0\.0: the download does not match the pinned sha512"):
        install(tmp_path, registry=url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    # a registry that does not answer: an OSError naming the URL
    del tarballs["/ort/-/ort-2.0.0.tgz"]
    with pytest.raises(OSError, match=r"ort-2\.0\.0\.tgz: HTTP 404"):
        install(tmp_path, registry=url)


def test_an_asset_that_is_not_the_pinned_file_is_neither_kept_nor_served(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assets = (dataclasses.replace(SILERO_ASSETS[0], sha256=hashlib.sha256(b"good").hexdigest()),)
    monkeypatch.setattr(_silero, "SILERO_ASSETS", assets)
    monkeypatch.setattr(_silero, "_BY_NAME", {a.name: a for a in assets})
    name = assets[0].name
    (tmp_path / name).write_bytes(b"bad")
    served = SileroAssets(tmp_path)
    assert missing(tmp_path) == [name] and served.get(name) is None and served.etag(name) is None
    assert served.status()["installed"] is False
    (tmp_path / name).write_bytes(b"good")  # installed while the server runs: looked for again
    assert served.get(name) == (b"good", "application/octet-stream")
    assert served.status()["installed"] is True and served.status()["missing"] == []
    assert served.get("../../etc/passwd") is None


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


@needs_node_modules
def test_the_http_port_serves_the_installed_assets_gzipped_with_an_etag(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASR_SILERO_DIR", str(tmp_path / "silero"))
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0)
    server = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="x")).start()
    try:
        base = f"http://127.0.0.1:{server.server.monitor.http_port}/app/silero"
        status, _, body = _get(f"{base}/status.json")
        assert status == 200 and json.loads(body)["installed"] is False
        assert "asr silero install" in json.loads(body)["install"]
        status, _, body = _get(f"{base}/ort-wasm-simd-threaded.wasm")
        assert status == 404 and "ort-wasm-simd-threaded.wasm" in json.loads(body)["missing"]

        assert main(["silero", "install", "--from", str(NODE_MODULES), "--no-progress"]) == 0
        assert json.loads(_get(f"{base}/status.json")[2])["installed"] is True
        status, headers, body = _get(f"{base}/ort-wasm-simd-threaded.wasm")
        assert status == 200 and headers["content-type"] == "application/wasm" and body[:4] == b"\0asm"
        assert headers["etag"] == f'"{hashlib.sha256(body).hexdigest()}"' and headers["cache-control"] == "no-cache"
        status, _, empty = _get(f"{base}/ort-wasm-simd-threaded.wasm", {"If-None-Match": headers["etag"]})
        assert (status, empty) == (304, b"")
        # a browser accepts gzip: 14.8 MB of runtime travel as about 3.8 MB, the same bytes once inflated
        status, zipped, packed = _get(f"{base}/ort-wasm-simd-threaded.wasm", {"Accept-Encoding": "gzip, deflate"})
        assert status == 200 and zipped["content-encoding"] == "gzip" and gzip.decompress(packed) == body
        assert len(packed) < len(body) / 3 and zipped["etag"] != headers["etag"] and zipped["vary"] == "Accept-Encoding"
        again = {"Accept-Encoding": "gzip", "If-None-Match": zipped["etag"]}
        assert _get(f"{base}/ort-wasm-simd-threaded.wasm", again)[0] == 304
        assert _get(f"{base}/silero_vad_v5.onnx")[0] == 200
        assert _get(f"{base}/ort.wasm.min.mjs")[0] == 404, "only the pinned files"
    finally:
        server.stop(1.0)


@needs_node_modules
def test_cli_status_and_the_python_detector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASR_SILERO_DIR", str(tmp_path / "silero"))
    assert main(["silero", "status"]) == 1
    assert "not installed: run `asr silero install`" in capsys.readouterr().err
    with pytest.raises(SileroModelMissing, match="asr silero install"):
        Segmenter(VadOptions(detector="silero", frame_ms=32))
    assert main(["transcribe", str(JFK_SAMPLE), "--vad-detector", "silero"]) == 1  # an error line, no traceback
    assert "the Silero VAD model is not installed" in capsys.readouterr().err
    assert main(["silero", "install", "--from", str(tmp_path / "nowhere"), "--no-progress"]) == 1
    assert "run `npm ci` in web/" in capsys.readouterr().err
    assert main(["silero", "install", "--from", str(NODE_MODULES), "--no-progress"]) == 0
    assert main(["silero", "status"]) == 0

    # real speech: Silero finds the pauses of "And so, my fellow Americans, ask not ..." and the clips
    # hold the speech webrtcvad finds, silence excluded (a tone of the same length is not speech)
    pcm = read_audio(JFK_SAMPLE)
    segmenter = Segmenter(VadOptions(detector="silero", frame_ms=32))
    clips = [*segmenter.push(pcm), *segmenter.flush()]
    assert len(clips) >= 2 and all(c.stats.speech_ratio > 0.3 for c in clips)
    assert clips[0].start_s < 0.5 and clips[-1].end_s > 10.0
    tone = (3000 * np.sin(np.arange(16000 * 3) * 2 * np.pi * 440 / 16000)).astype(np.int16)
    segmenter = Segmenter(VadOptions(detector="silero", frame_ms=32))
    assert [*segmenter.push(tone), *segmenter.flush()] == []
