"""Offline transcription of many files into a JSON-lines file, resumable.

Input: a manifest (only ``audio`` is needed) or a folder, searched recursively for `AUDIO_SUFFIXES`.
Output: one line per file, appended and flushed as each one finishes, in the format `asr label import`
reads (docs/labeling.md, "The import format")::

    {"audio": "../data/a/b.wav", "text": "...", "confidence": 0.81, "model_id": ..., "model_version": ...,
     "clips": [{"start_s": ..., "end_s": ..., "text": ..., "confidence": ..., ...}],
     "utt_id": ..., "tags": [...], "recorded_at": ...}

- ``audio`` is relative to OUT's folder (or absolute when the manifest's path was), so the file can be
  read by the next command wherever it runs, and moved together with its audio.
- ``confidence`` is the clips' confidence weighted by their length (None when the VAD found no clip).
- The manifest's other fields are carried over (``utt_id``, ``tags``, ``recorded_at``, ``speaker`` ...),
  except its ``text``, which is kept as ``reference`` when there is one.

A rerun skips every audio that OUT already holds, so an interrupted batch resumes where it stopped (a
half-written last line is cut off first). Files that cannot be read are reported and not written, so a
rerun retries them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vad
from asr_service.evaluation.errors import EvaluationError, ManifestError
from asr_service.evaluation.transcription import ClipOutcome, FileTranscriber, transcribe_files
from asr_service.jsonl import Row, RowError, RowProblem, UnreadableFileError, audio_path, read_rows

__all__ = ["AUDIO_SUFFIXES", "BatchItem", "BatchSummary", "batch_items", "completed_audio", "file_confidence",
           "run_batch"]

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"})


#: Manifest fields not carried into the output: the output writes its own.
_OWN_FIELDS = frozenset({"audio", "text", "clips", "confidence", "model_id", "model_version", "reference"})


@dataclass(frozen=True, kw_only=True)
class BatchItem:
    """One file to transcribe."""

    audio: str  # as the manifest writes it, or relative to the folder
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)  # carried into the output line (utt_id, tags ...)
    line: int = 0  # the manifest line (0 for a folder)

    def key(self, out_dir: Path) -> str:
        """``audio`` as OUT writes it: relative to OUT's folder, or absolute when the manifest's was."""
        if Path(self.audio).is_absolute():
            return str(self.path)
        return Path(os.path.relpath(self.path.absolute(), out_dir.absolute())).as_posix()


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
        extra = {k: v for k, v in entry.data.items() if k not in _OWN_FIELDS}
        if isinstance(entry.data.get("text"), str) and entry.data["text"].strip():
            extra["reference"] = entry.data["text"]
        items.append(BatchItem(audio=audio, path=path, extra=extra, line=entry.line))
    return items, problems


def file_confidence(clips: Sequence[ClipOutcome]) -> float | None:
    """A file's confidence: its clips' confidence weighted by their length; None without clips."""
    weights = [max(c.end_s - c.start_s, 0.0) for c in clips]
    if not clips or sum(weights) <= 0:
        return round(sum(c.confidence for c in clips) / len(clips), 4) if clips else None
    return round(sum(c.confidence * w for c, w in zip(clips, weights, strict=True)) / sum(weights), 4)


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
    # `item.audio` as well: OUT files written before the keys were made relative to OUT's folder
    todo = [item for item in items if item.key(out.parent) not in done and item.audio not in done]
    if on_start is not None:
        on_start(len(todo))
    failed: list[RowProblem] = []
    written = 0
    with out.open("a", encoding="utf-8") as fh:
        for index, outcome in transcribe_files(transcribe, [i.path for i in todo], workers=workers):
            item = todo[index]
            if isinstance(outcome, vad.VadError):
                failed.append(RowProblem(line=item.line, audio=item.audio, reason=f"unreadable audio: {outcome}"))
            else:
                record = {**item.extra, "audio": item.key(out.parent), "text": outcome.text,
                          "confidence": file_confidence(outcome.clips),
                          "model_id": outcome.model_id, "model_version": outcome.model_version,
                          "clips": [c.to_json() for c in outcome.clips]}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
                written += 1
            if progress is not None:
                progress()
    return BatchSummary(transcribed=written, skipped=len(items) - len(todo), failed=tuple(failed))
