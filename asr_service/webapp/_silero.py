"""The Silero VAD's assets: installed apart from the package, pinned, checked, served at `/app/silero/`.

Two files that the committed bundle must not carry (17 MB, where the whole browser client is 250 KB):
- `silero_vad_v5.onnx` (2.3 MB), the model, from `@ricky0123/vad-web`. The browser runs it, and so does
  `vad`'s "silero" detector in Python (`vad/detectors/_silero.py`), so both cut the same clips.
- `ort-wasm-simd-threaded.wasm` (14.8 MB), onnxruntime-web's runtime, which the bundle's `silero.js` code
  loads from `/app/silero/`.

`asr silero install` puts them in `vad`'s `silero_dir()` (`$ASR_SILERO_DIR`, else
`~/.cache/asr-service/silero`). It fetches the two npm packages' tarballs from the npm registry (no node
needed), checks each tarball's SHA-512 integrity, and checks each file's SHA-256 (the versions
`web/package-lock.json` pins, the same files the bundle was built against). With `--from`, it copies the
files out of a `node_modules` folder (`web/node_modules` after `npm ci`) instead, offline. The server
serves them only when the files are present with the pinned hash. The page says how to install them when
they are not.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vad.detectors._silero import SILERO_MODEL_FILE, SILERO_MODEL_SHA256, silero_dir

__all__ = ["SILERO_ASSETS", "SileroAsset", "SileroAssets", "install", "missing"]

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class SileroAsset:
    """One served file: its name under /app/silero/, the npm package it comes from, and its pins."""

    name: str
    package: str
    version: str
    integrity: str  # the package tarball's SHA-512, as package-lock.json records it
    path: str  # inside the package
    sha256: str
    content_type: str

    @property
    def tarball_url(self) -> str:
        base = self.package.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.package}/-/{base}-{self.version}.tgz"


SILERO_ASSETS = (
    SileroAsset(SILERO_MODEL_FILE, "@ricky0123/vad-web", "0.0.31",
                "sha512-ePVq8TvB21sdHSxVMZOEIf9JVa7MAYpaIaNXeGgsPOiMCN8xbPCdF2LS5aYj7VRR3ZxzutedgV9ZplV65IA1Fg==",
                f"dist/{SILERO_MODEL_FILE}", SILERO_MODEL_SHA256, "application/octet-stream"),
    SileroAsset("ort-wasm-simd-threaded.wasm", "onnxruntime-web", "1.31.1",
                "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw==",
                "dist/ort-wasm-simd-threaded.wasm",
                "4b884c203b0fa48d057be3332c65513ff85aa3c5bddd6946acc0fab7ecda001d", "application/wasm"),
)
_BY_NAME = {asset.name: asset for asset in SILERO_ASSETS}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pinned(path: Path, asset: SileroAsset) -> bool:
    """`path` holds `asset`'s pinned file."""
    return path.is_file() and _sha256(path) == asset.sha256


def missing(directory: Path | None = None) -> list[str]:
    """Names of the assets absent from `directory` (default `silero_dir()`) or not matching their pin."""
    directory = directory or silero_dir()
    return [a.name for a in SILERO_ASSETS if not _pinned(directory / a.name, a)]


class SileroAssets:
    """What the HTTP port serves at /app/silero/: checked once (hashing 17 MB), then read per request."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or silero_dir()
        self._checked: dict[str, bool] = {}
        self._gzipped: dict[str, bytes] = {}  # compressed once, on the first request that accepts gzip
        self._lock = threading.Lock()

    def _ok(self, name: str) -> bool:
        """Present with its pinned hash. Only a pass is kept: a missing file may be installed while we run."""
        if not self._checked.get(name):
            self._checked[name] = _pinned(self.directory / name, _BY_NAME[name])
        return self._checked[name]

    def get(self, name: str, *, gzipped: bool = False) -> tuple[bytes, str] | None:
        """(content, content type) of an installed, pinned asset, gzip-compressed if asked (the runtime:
        14.8 MB -> 3.8 MB); None for any other name or when absent."""
        asset = _BY_NAME.get(name)
        if asset is None or not self._ok(name):
            return None
        if gzipped and name in self._gzipped:
            return self._gzipped[name], asset.content_type
        try:
            data = (self.directory / name).read_bytes()
        except OSError:
            self._checked.pop(name, None)
            return None
        if gzipped:
            with self._lock:  # one compression (about 0.4 s for the runtime) however many pages ask at once
                if name not in self._gzipped:
                    self._gzipped[name] = gzip.compress(data, compresslevel=6, mtime=0)
            return self._gzipped[name], asset.content_type
        return data, asset.content_type

    def warm(self) -> threading.Thread | None:
        """Compress the installed assets on a background thread (about 0.5 s of one core), so that the first
        page to ask for Silero does not wait for it; None when they are not installed."""
        if not all(self._ok(name) for name in _BY_NAME):
            return None
        thread = threading.Thread(target=lambda: [self.get(name, gzipped=True) for name in _BY_NAME],
                                  name="asr-silero-gzip", daemon=True)
        thread.start()
        return thread

    def etag(self, name: str, *, gzipped: bool = False) -> str | None:
        """The HTTP ETag of an installed asset (its pinned SHA-256, marked for the gzip representation); None
        for any other name or when absent."""
        asset = _BY_NAME.get(name)
        if asset is None or not self._ok(name):
            return None
        return f'"{asset.sha256}{"-gzip" if gzipped else ""}"'

    def status(self) -> dict[str, object]:
        """For the page: whether Silero can run here, and how to install it when not."""
        absent = [name for name in _BY_NAME if not self._ok(name)]
        return {"installed": not absent, "missing": absent,
                "install": "asr silero install (on the server's host; with --from web/node_modules after "
                "npm ci it works offline)"}


Progress = Callable[[str, int, int], None]  # (what, bytes so far, total bytes or 0)


def _check_integrity(data: bytes, integrity: str, what: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
    if actual != expected:
        raise ValueError(f"{what}: the download does not match the pinned {algorithm} integrity "
                         f"({actual[:16]}... vs {expected[:16]}...); nothing was installed")


def _download(url: str, progress: Progress | None, timeout_s: float) -> bytes:
    import httpx

    buffer = io.BytesIO()
    with httpx.stream("GET", url, follow_redirects=True, timeout=timeout_s) as response:
        if response.status_code != 200:
            raise OSError(f"{url}: HTTP {response.status_code}")
        total = int(response.headers.get("Content-Length") or 0)
        for chunk in response.iter_bytes(1 << 16):
            buffer.write(chunk)
            if progress is not None:
                progress(url, buffer.tell(), total)
    return buffer.getvalue()


def _from_tarball(data: bytes, asset: SileroAsset) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        try:
            member = tar.getmember(f"package/{asset.path}")
        except KeyError:
            raise ValueError(f"{asset.package}@{asset.version} has no {asset.path}") from None
        f = tar.extractfile(member)
        if f is None:
            raise ValueError(f"{asset.package}@{asset.version}: {asset.path} is not a file")
        return f.read()


def install(directory: Path | None = None, *, from_node_modules: Path | None = None,
            progress: Progress | None = None, timeout_s: float = 120.0,
            registry: str | None = None) -> list[Path]:
    """Put every asset in `directory` (default `silero_dir()`), checked; return their paths.

    Files already there with the pinned hash are kept. Each file is written under a temporary name and
    renamed, so a failed or interrupted install leaves no half file behind. Raises OSError (network,
    disk, a missing node_modules file) or ValueError (a hash that does not match its pin).
    """
    directory = directory or silero_dir()
    directory.mkdir(parents=True, exist_ok=True)
    tarballs: dict[str, bytes] = {}
    written = []
    for asset in SILERO_ASSETS:
        target = directory / asset.name
        if _pinned(target, asset):
            written.append(target)
            continue
        if from_node_modules is not None:
            source = from_node_modules / asset.package / asset.path
            if not source.is_file():
                raise OSError(f"{source} is missing: run `npm ci` in web/ (it pins {asset.package} {asset.version})")
            data = source.read_bytes()
        else:
            if asset.package not in tarballs:
                url = asset.tarball_url if registry is None else asset.tarball_url.replace(REGISTRY, registry, 1)
                raw = _download(url, progress, timeout_s)
                _check_integrity(raw, asset.integrity, f"{asset.package}@{asset.version}")
                tarballs[asset.package] = raw
            data = _from_tarball(tarballs[asset.package], asset)
        actual = hashlib.sha256(data).hexdigest()
        if actual != asset.sha256:
            raise ValueError(f"{asset.name} from {asset.package}@{asset.version} has sha256 {actual[:16]}..., not the "
                             f"pinned {asset.sha256[:16]}...; nothing was written for it")
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{asset.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
