"""The clip manifest that ``asr label import`` reads, and where Label Studio finds the audio.

One JSON object per line, as the transcriber writes it: ``audio`` (a path, relative to the manifest's
folder unless absolute), optional ``start_s``/``end_s``, and the model output ``text``, ``confidence``,
``model_version``. Other fields are kept as task data. The lines are read by `asr_service.jsonl`
(UTF-8, blank lines skipped); the first bad line stops the import as ``file:line: reason``.

Label Studio serves the audio itself (local-files serving): each file must lie below its
``LOCAL_FILES_DOCUMENT_ROOT`` (``LABEL_STUDIO_DOCUMENT_ROOT`` here), and a local-files storage of the
project must cover the file's folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from asr_service.jsonl import Row, RowError, RowProblem, UnreadableFileError, audio_path, read_rows
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
        clips = [_checked(entry, manifest, document_root) for entry in read_rows(manifest)]
    except UnreadableFileError as exc:
        raise InputError(str(exc)) from exc
    if not clips:
        raise InputError(f"{manifest}: no clips")
    return clips


def _checked(entry: Row | RowProblem, manifest: Path, document_root: Path) -> Clip:
    if isinstance(entry, RowProblem):
        raise InputError(entry.where(manifest))
    try:
        return _clip(entry, manifest, document_root)
    except RowError as bad:
        raise InputError(bad.problem(entry.line).where(manifest)) from None


def _clip(row: Row, manifest: Path, document_root: Path) -> Clip:
    _, path = audio_path(row, manifest, must_exist=True)
    root = Path(os.path.normpath(document_root.absolute()))
    if root != path.parent and root not in path.parents:
        raise RowError(f"audio file {path} is outside the document root {root} that Label Studio "
                       "serves (LABEL_STUDIO_DOCUMENT_ROOT / LOCAL_FILES_DOCUMENT_ROOT)")
    item = row.data
    start_s, end_s = _number(item, "start_s"), _number(item, "end_s")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise RowError(f"end_s ({end_s}) must be after start_s ({start_s})")
    confidence = _number(item, "confidence")
    if confidence is not None and not 0.0 <= confidence <= 1.0:
        raise RowError(f"confidence {confidence} is outside [0, 1]")
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        raise RowError("'text' must be a string")
    version = item.get("model_version")
    return Clip(
        line=row.line, audio_path=path, start_s=start_s, end_s=end_s, text=text, confidence=confidence,
        model_version=str(version) if version is not None else None,
        extra={k: v for k, v in item.items() if k not in _RESERVED},
    )


def _number(item: Mapping[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RowError(f"{key!r} must be a finite number, got {value!r}")
    if value < 0:
        raise RowError(f"{key!r} must not be negative, got {value!r}")
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
