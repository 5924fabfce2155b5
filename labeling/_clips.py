"""The import format that ``asr label import`` reads, and where Label Studio finds the audio.

One JSON object per line (docs/labeling.md, "The import format"). `asr transcribe-batch` writes it, one
line per file; `asr transcribe --json` writes one line per clip, which it reads too:

- ``audio`` (a path, relative to the file's folder unless absolute); ``file`` when ``audio`` is not a
  path (`asr transcribe --json` names the path ``file`` and keeps audio measurements in ``audio``);
- ``utt_id``: the task's identity; a re-import skips the lines whose ``utt_id`` the project has. Default:
  the audio's path below the document root, with ``@START-END`` for a stretch of a file;
- optional ``start_s``/``end_s``: the line is that stretch of the file;
- the model output: ``text``, ``confidence`` (else the clips' confidence weighted by their length),
  ``model_version``, and ``clips`` (``start_s``, ``end_s``, ``text``, ``confidence`` each), which become
  one pre-annotated region each in a segments project;
- every other field (``tags``, ``recorded_at``, ``speaker`` ...) is kept as task data and exported.

The lines are read by `asr_service.jsonl` (UTF-8, blank lines skipped); the first bad line stops the
import as ``file:line: reason``, before anything is written.

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

__all__ = ["Clip", "ModelSegment", "local_files_url", "read_clips", "storage_dirs"]


@dataclass(frozen=True, kw_only=True)
class ModelSegment:
    """One clip of the model's output within a line: a pre-annotated region in a segments project."""

    start_s: float
    end_s: float
    text: str

# Fields with a meaning here; not copied into the task data as they are (`_task` writes its own).
_RESERVED = ("audio", "audio_path", "file", "utt_id", "start_s", "end_s", "text", "model_text", "confidence",
             "model_version", "clips")


@dataclass(frozen=True, kw_only=True)
class Clip:
    """One clip to label, with the model's output."""

    line: int
    utt_id: str
    audio_path: Path
    start_s: float | None
    end_s: float | None
    text: str | None
    confidence: float | None
    model_version: str | None
    segments: tuple[ModelSegment, ...]  # from `clips`; overlaps cut at their middle
    extra: Mapping[str, Any]


def read_clips(manifest: Path, *, document_root: Path) -> list[Clip]:
    """Read and check every line; the first problem raises :class:`InputError` naming file and line."""
    try:
        clips = [_checked(entry, manifest, document_root) for entry in read_rows(manifest)]
    except UnreadableFileError as exc:
        raise InputError(str(exc)) from exc
    if not clips:
        raise InputError(f"{manifest}: no clips")
    seen: dict[str, int] = {}
    for clip in clips:
        if clip.utt_id in seen:
            raise InputError(f"{manifest}:{clip.line}: utterance id {clip.utt_id!r} repeats line "
                             f"{seen[clip.utt_id]} (give each line its own 'utt_id')")
        seen[clip.utt_id] = clip.line
    return clips


def _checked(entry: Row | RowProblem, manifest: Path, document_root: Path) -> Clip:
    if isinstance(entry, RowProblem):
        raise InputError(entry.where(manifest))
    try:
        return _clip(entry, manifest, document_root)
    except RowError as bad:
        raise InputError(bad.problem(entry.line).where(manifest)) from None


def _clip(row: Row, manifest: Path, document_root: Path) -> Clip:
    item = row.data
    if "revision" in item and "audio" not in item:  # not a clip: it would become a task for the whole file
        raise RowError("a revision of clips above it (`asr transcribe --revisions`), not a clip: import the "
                       "output of `asr transcribe --json` without --revisions")
    if not isinstance(item.get("audio"), str) and isinstance(item.get("file"), str) and item["file"] != "-":
        row = Row(line=row.line, data={**item, "audio": item["file"]})  # `asr transcribe --json`
    _, path = audio_path(row, manifest, must_exist=True)
    root = Path(os.path.normpath(document_root.absolute()))
    if root != path.parent and root not in path.parents:
        raise RowError(f"audio file {path} is outside the document root {root} that Label Studio "
                       "serves (LABEL_STUDIO_DOCUMENT_ROOT / LOCAL_FILES_DOCUMENT_ROOT)")
    start_s, end_s = _number(item, "start_s"), _number(item, "end_s")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise RowError(f"end_s ({end_s}) must be after start_s ({start_s})")
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        raise RowError("'text' must be a string")
    model_clips = _model_clips(item.get("clips"))
    confidence = _confidence(item.get("confidence"), model_clips)
    version = item.get("model_version")
    extra = {k: v for k, v in item.items() if k not in _RESERVED}
    if isinstance(item.get("audio"), dict):  # `asr transcribe --json`'s audio measurements
        extra["audio_stats"] = item["audio"]
    return Clip(
        line=row.line, utt_id=_utt_id(item.get("utt_id"), path, document_root, start_s, end_s),
        audio_path=path, start_s=start_s, end_s=end_s, text=text, confidence=confidence,
        model_version=str(version) if version is not None else None,
        segments=_without_overlaps(model_clips), extra=extra,
    )


def _utt_id(given: object, path: Path, document_root: Path, start_s: float | None, end_s: float | None) -> str:
    if isinstance(given, (str, int)) and not isinstance(given, bool) and str(given).strip():
        return str(given)
    if given is not None and given != "":
        raise RowError(f"'utt_id' must be a string or a whole number, got {given!r}")
    name = path.relative_to(Path(os.path.normpath(document_root.absolute()))).as_posix()
    if start_s is None and end_s is None:
        return name
    return f"{name}@{start_s or 0.0:g}-{'' if end_s is None else f'{end_s:g}'}"


def _model_clips(value: object) -> list[tuple[ModelSegment, float | None]]:
    """The ``clips`` of a line, each with its confidence."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError("'clips' must be a list of {start_s, end_s, text, confidence}")
    clips: list[tuple[ModelSegment, float | None]] = []
    for index, clip in enumerate(value):
        if not isinstance(clip, dict):
            raise RowError(f"clips[{index}] must be an object")
        try:
            start_s, end_s = _number(clip, "start_s"), _number(clip, "end_s")
            confidence = _number(clip, "confidence")
        except RowError as bad:
            raise RowError(f"clips[{index}]: {bad}") from None
        text = clip.get("text")
        if start_s is None or end_s is None or end_s <= start_s or not isinstance(text, str):
            raise RowError(f"clips[{index}] needs a 'start_s' before its 'end_s' and a 'text'")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise RowError(f"clips[{index}]: confidence {confidence} is outside [0, 1]")
        clips.append((ModelSegment(start_s=start_s, end_s=end_s, text=text), confidence))
    return clips


def _confidence(value: object, clips: list[tuple[ModelSegment, float | None]]) -> float | None:
    """The line's ``confidence``; else its clips' confidence weighted by their length."""
    if value is not None:
        confidence = _number({"confidence": value}, "confidence")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise RowError(f"confidence {confidence} is outside [0, 1]")
        return confidence
    scored = [(c.end_s - c.start_s, conf) for c, conf in clips if conf is not None]
    total = sum(w for w, _ in scored)
    return sum(w * conf for w, conf in scored) / total if scored and total > 0 else None


def _without_overlaps(clips: list[tuple[ModelSegment, float | None]]) -> tuple[ModelSegment, ...]:
    """The clips with text, in time order; where two overlap (the VAD pads each clip, so neighbours share
    up to the padding), both are cut at the middle of the shared stretch, so a word is in one region."""
    ordered = sorted((c for c, _ in clips if c.text.strip()), key=lambda c: (c.start_s, c.end_s))
    out: list[ModelSegment] = []
    for clip in ordered:
        if out and clip.start_s < out[-1].end_s:
            middle = (clip.start_s + min(out[-1].end_s, clip.end_s)) / 2
            out[-1] = ModelSegment(start_s=out[-1].start_s, end_s=max(middle, out[-1].start_s), text=out[-1].text)
            clip = ModelSegment(start_s=middle, end_s=max(clip.end_s, middle), text=clip.text)
        out.append(clip)
    return tuple(c for c in out if c.end_s > c.start_s)


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
