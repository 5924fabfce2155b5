"""The clip manifest that ``asr label import`` reads, and where Label Studio finds the audio.

One JSON object per line, as the transcriber writes it: ``audio`` (a path, relative to the manifest's
folder unless absolute), optional ``start_s``/``end_s``, and the model output ``text``, ``confidence``,
``model_version``. Other fields are kept as task data.

Label Studio serves the audio itself (local-files serving): each file must lie below its
``LOCAL_FILES_DOCUMENT_ROOT`` (``LABEL_STUDIO_DOCUMENT_ROOT`` here), and a local-files storage of the
project must cover the file's folder.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from labeling._errors import InputError

__all__ = ["Clip", "local_files_url", "read_clips", "storage_dirs"]

_RESERVED = ("audio", "audio_path", "start_s", "end_s", "text", "model_text", "confidence", "model_version")


@dataclass(frozen=True, kw_only=True)
class Clip:
    """One clip to label, with the model's output."""

    line: int
    audio_path: Path
    start_s: float | None
    end_s: float | None
    text: str | None
    confidence: float | None
    model_version: str | None
    extra: Mapping[str, Any]


def read_clips(manifest: Path, *, document_root: Path) -> list[Clip]:
    """Read and check every line; the first problem raises :class:`InputError` naming file and line."""
    try:
        text = manifest.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {manifest}: {exc.strerror}") from exc
    clips: list[Clip] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON: {exc.msg}") from exc
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected a JSON object")
        clips.append(_clip(item, number, where, manifest.parent, document_root))
    if not clips:
        raise InputError(f"{manifest}: no clips")
    return clips


def _clip(item: dict[str, Any], number: int, where: str, base: Path, document_root: Path) -> Clip:
    audio = item.get("audio")
    if not isinstance(audio, str) or not audio:
        raise InputError(f"{where}: 'audio' must be a non-empty path")
    path = Path(audio)
    path = Path(os.path.normpath(path if path.is_absolute() else (base / path).absolute()))
    if not path.is_file():
        raise InputError(f"{where}: audio file {path} does not exist")
    root = Path(os.path.normpath(document_root.absolute()))
    if root != path.parent and root not in path.parents:
        raise InputError(f"{where}: audio file {path} is outside the document root {root} that Label Studio "
                         "serves (LABEL_STUDIO_DOCUMENT_ROOT / LOCAL_FILES_DOCUMENT_ROOT)")
    start_s, end_s = _number(item, "start_s", where), _number(item, "end_s", where)
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise InputError(f"{where}: end_s ({end_s}) must be after start_s ({start_s})")
    confidence = _number(item, "confidence", where)
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise InputError(f"{where}: confidence {confidence} is outside [0, 1]")
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        raise InputError(f"{where}: 'text' must be a string")
    version = item.get("model_version")
    return Clip(
        line=number, audio_path=path, start_s=start_s, end_s=end_s, text=text, confidence=confidence,
        model_version=str(version) if version is not None else None,
        extra={k: v for k, v in item.items() if k not in _RESERVED},
    )


def _number(item: Mapping[str, Any], key: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: {key!r} must be a finite number, got {value!r}")
    if value < 0:
        raise InputError(f"{where}: {key!r} must not be negative, got {value!r}")
    return float(value)


def local_files_url(path: Path, document_root: Path) -> str:
    """The URL under which Label Studio serves ``path`` (relative to its document root)."""
    relative = path.relative_to(Path(os.path.normpath(document_root.absolute())))
    return "/data/local-files/?d=" + quote(relative.as_posix(), safe="/")


def storage_dirs(clips: list[Clip], document_root: Path) -> list[Path]:
    """The folders a local-files storage must cover: their common folder, unless that is the root."""
    root = Path(os.path.normpath(document_root.absolute()))
    parents = sorted({c.audio_path.parent for c in clips})
    common = Path(os.path.commonpath([str(p) for p in parents]))
    if common != root:
        return [common]
    if any(p == root for p in parents):
        raise InputError(f"audio files directly in the document root {root} cannot be served: Label Studio "
                         "refuses a storage at the root; put them in a sub-folder")
    return parents
