"""Offline transcription of many files into a JSON-lines file, resumable.

Input: a manifest (only ``audio`` is needed; ``utt_id`` is carried over) or a folder, searched
recursively for `AUDIO_SUFFIXES`. Output: one line per file, appended and flushed as each one finishes::

    {"audio": "a/b.wav", "text": "...", "clips": [{"start_s": ..., "text": ..., ...}],
     "model_id": ..., "model_version": ..., "utt_id": ...}

``audio`` is the path as the manifest writes it, or relative to the folder. A rerun skips every audio
that OUT already holds, so an interrupted batch resumes where it stopped (a half-written last line is
cut off first). Files that cannot be read are reported and not written, so a rerun retries them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vad
from asr_service.evaluation.errors import EvaluationError, ManifestError
from asr_service.evaluation.transcription import FileTranscriber, transcribe_files
from asr_service.jsonl import Row, RowError, RowProblem, UnreadableFileError, audio_path, read_rows

__all__ = ["AUDIO_SUFFIXES", "BatchItem", "BatchSummary", "batch_items", "completed_audio", "run_batch"]

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"})


@dataclass(frozen=True, kw_only=True)
class BatchItem:
    """One file to transcribe."""

    audio: str  # the key in OUT: as the manifest writes it, or relative to the folder
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)  # carried into the output line (utt_id)


@dataclass(frozen=True, kw_only=True)
class BatchSummary:
    """What a batch run did."""

    transcribed: int
    skipped: int  # already in OUT
    failed: tuple[RowProblem, ...]  # unreadable audio and bad manifest rows, with their line (0 for a folder)


def batch_items(source: str | Path) -> tuple[list[BatchItem], list[RowProblem]]:
    """The files of a manifest or a folder, and the manifest rows that name no audio."""
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        return [BatchItem(audio=p.relative_to(src).as_posix(), path=p) for p in files], []
    try:
        return _manifest_items(src)
    except UnreadableFileError as exc:
        raise ManifestError(str(exc)) from exc


def _manifest_items(manifest: Path) -> tuple[list[BatchItem], list[RowProblem]]:
    items: list[BatchItem] = []
    problems: list[RowProblem] = []
    for entry in read_rows(manifest):
        if isinstance(entry, RowProblem):
            problems.append(entry)
            continue
        try:
            audio, path = audio_path(entry, manifest, must_exist=False)  # a missing file is unreadable audio
        except RowError as bad:
            problems.append(bad.problem(entry.line))
            continue
        extra = {"utt_id": entry.data["utt_id"]} if entry.data.get("utt_id") else {}
        items.append(BatchItem(audio=audio, path=path, extra={**extra, "line": entry.line}))
    return items, problems


def completed_audio(out_path: Path) -> set[str]:
    """The audio keys OUT already holds; a half-written last line is cut off so appending stays valid."""
    if not out_path.exists():
        return set()
    data = out_path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        logger.warning("%s: dropping a half-written last line (%d bytes)", out_path, len(data) - cut)
        with out_path.open("r+b") as fh:
            fh.truncate(cut)
    try:
        return {_done_audio(entry, out_path) for entry in read_rows(out_path)}
    except UnreadableFileError as exc:
        raise EvaluationError(str(exc)) from exc


def _done_audio(entry: Row | RowProblem, out_path: Path) -> str:
    audio = entry.data.get("audio") if isinstance(entry, Row) else None
    if audio is None:
        reason = entry.reason if isinstance(entry, RowProblem) else "no 'audio'"
        raise EvaluationError(f"{out_path}:{entry.line}: not a transcribe-batch line ({reason})")
    return str(audio)


def run_batch(
    items: Sequence[BatchItem],
    out_path: str | Path,
    transcribe: FileTranscriber,
    *,
    workers: int = 1,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[], object] | None = None,
) -> BatchSummary:
    """Transcribe the items OUT does not hold yet, appending a line per file as it finishes.

    `on_start` gets the number of files left to do; `progress` is called once per file done.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = completed_audio(out)
    todo = [item for item in items if item.audio not in done]
    if on_start is not None:
        on_start(len(todo))
    failed: list[RowProblem] = []
    written = 0
    with out.open("a", encoding="utf-8") as fh:
        for index, outcome in transcribe_files(transcribe, [i.path for i in todo], workers=workers):
            item = todo[index]
            if isinstance(outcome, vad.VadError):
                line = int(item.extra.get("line", 0))
                failed.append(RowProblem(line=line, audio=item.audio, reason=f"unreadable audio: {outcome}"))
            else:
                record = {"audio": item.audio, "text": outcome.text, "clips": [c.to_json() for c in outcome.clips],
                          "model_id": outcome.model_id, "model_version": outcome.model_version,
                          **{k: v for k, v in item.extra.items() if k != "line"}}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
                written += 1
            if progress is not None:
                progress()
    return BatchSummary(transcribed=written, skipped=len(items) - len(todo), failed=tuple(failed))
