"""The evaluation manifest: JSON lines, one utterance a line, read with every bad row reported.

Format (compatible with ``shared/data/speech/manifest.jsonl``)::

    {"audio": "audio/a.wav", "text": "go forward ten meters", "duration": 2.8,
     "recorded_at": "2025-03-14", "speaker": "s1", "tags": ["command", "male"], "device": "pixel-8"}

- ``audio`` (required): path of the audio file, relative to the manifest's folder unless absolute.
- ``text`` (required, non-empty): the reference transcript as written; it is normalised before scoring.
  A row with a ``reference`` field is in the import format (`asr transcribe-batch` output, the request
  log), where ``text`` is a model's hypothesis: ``reference`` is then the reference, and a row whose
  ``reference`` is empty has none yet (a row problem, never the model scored against itself).
- ``duration`` (optional): seconds.
- ``recorded_at`` (optional): ISO 8601 date (``2025-03-14``) or time (``2025-03-14T09:30:00+01:00``);
  a time without offset and a bare date are taken as UTC. Date filters need it.
- ``utt_id`` (optional): the utterance's identity in results and comparisons; default: ``audio`` as written,
  with ``@START-END`` appended for a segment.
- ``start_s`` / ``end_s`` (optional): the row is the segment of the file between these times (seconds; a
  missing ``start_s`` is 0, a missing ``end_s`` the end of the file). It is cut out and transcribed alone,
  so several rows may name the same file (as `asr label export` writes a segments project).
- any other field (``tags``, ``speaker``, ``device``, ``age_group`` ...) is a slice key for ``--by``;
  a list field slices by each of its values (a row tagged ``["noisy", "male"]`` counts in both slices).

The lines are read by `asr_service.jsonl` (UTF-8, blank lines skipped, one JSON object a line; a file
that cannot be read is a `ManifestError`). A line that is not a JSON object, a row with no ``audio`` or
no ``text``, a missing file, a bad ``duration``/``recorded_at`` or a repeated ``utt_id`` becomes a
`RowProblem` with its line number: excluded from scores, counted and listed in the results, never
silently dropped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from asr_service.evaluation.errors import ManifestError
from asr_service.jsonl import Row, RowError, RowProblem, UnreadableFileError, audio_path, read_rows

__all__ = ["RESERVED_FIELDS", "Manifest", "RowProblem", "Utterance", "load_manifest", "parse_timestamp"]

logger = logging.getLogger(__name__)

RESERVED_FIELDS = frozenset({"audio", "text", "duration", "recorded_at", "utt_id", "start_s", "end_s"})
"""Fields with a fixed meaning; every other field of a row is a slice key."""


@dataclass(frozen=True, kw_only=True)
class Utterance:
    """One usable manifest row."""

    line: int  # 1-based line number in the manifest
    utt_id: str  # `utt_id` of the row, else `audio` as written
    audio: str  # as written in the manifest
    audio_path: Path  # resolved against the manifest's folder
    text: str  # reference, as written
    duration_s: float | None = None
    recorded_at: datetime | None = None  # timezone-aware (UTC when the row gave no offset)
    start_s: float = 0.0  # a segment of the file: from here...
    end_s: float | None = None  # ...to here (None: the end of the file)
    fields: Mapping[str, Any] = field(default_factory=dict)  # every other field: the slice keys


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """The usable rows of a manifest and the problems of the others."""

    path: Path
    utterances: tuple[Utterance, ...]
    problems: tuple[RowProblem, ...]

    @property
    def rows(self) -> int:
        """Non-blank lines read."""
        return len(self.utterances) + len(self.problems)


def parse_timestamp(value: str, *, what: str = "recorded_at") -> datetime:
    """An ISO 8601 date or time as an aware datetime (UTC when it has no offset); ValueError names `what`."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what}: {value!r} is not an ISO 8601 date or time")
    text = value.strip()
    try:
        if len(text) == 10:  # YYYY-MM-DD
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not an ISO 8601 date or time (e.g. 2025-03-14)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def load_manifest(path: str | Path, *, check_files: bool = True, references: bool = True) -> Manifest:
    """Read a JSON-lines manifest; a bad row becomes a `RowProblem`, an unreadable file a `ManifestError`.

    `references=False` reads rows without a reference too (their `text` is then ""): for what needs only
    the audio and the fields, such as a drift baseline built from the request log."""
    manifest_path = Path(path)
    try:
        utterances, problems = _read(manifest_path, check_files=check_files, references=references)
    except UnreadableFileError as exc:
        raise ManifestError(str(exc)) from exc
    for problem in problems:
        logger.warning("%s", problem.where(manifest_path))
    return Manifest(path=manifest_path, utterances=tuple(utterances), problems=tuple(problems))


def _read(manifest: Path, *, check_files: bool, references: bool) -> tuple[list[Utterance], list[RowProblem]]:
    utterances: list[Utterance] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for entry in read_rows(manifest):
        if isinstance(entry, RowProblem):
            problems.append(entry)
            continue
        try:
            utt = _utterance(entry, manifest, check_files=check_files, references=references)
        except RowError as bad:
            problems.append(bad.problem(entry.line))
            continue
        if utt.utt_id in seen:
            reason = f"duplicate utterance id {utt.utt_id!r} (first at line {seen[utt.utt_id]})"
            problems.append(RowProblem(line=entry.line, audio=utt.audio, reason=reason))
            continue
        seen[utt.utt_id] = entry.line
        utterances.append(utt)
    return utterances, problems


def _utterance(row: Row, manifest: Path, *, check_files: bool, references: bool) -> Utterance:
    audio, path = audio_path(row, manifest, must_exist=check_files)
    if "reference" in row.data:  # the import format: `text` is a model's hypothesis, `reference` the truth
        text = row.data["reference"]
        if (not isinstance(text, str) or not text.strip()) and references:
            raise RowError("no reference yet: this row's 'text' is a model's output ('reference' is empty); review "
                           "it first (asr label import, then asr label export)", audio)
    else:
        text = row.data.get("text")
        if (not isinstance(text, str) or not text.strip()) and references:
            raise RowError("no reference 'text'", audio)
    text = text if isinstance(text, str) else ""
    duration = row.data.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0):
        raise RowError(f"'duration' {duration!r} is not a number of seconds >= 0", audio)
    recorded_at = None
    if row.data.get("recorded_at") is not None:
        try:
            recorded_at = parse_timestamp(row.data["recorded_at"])
        except ValueError as exc:
            raise RowError(str(exc), audio) from None
    start_s, end_s = _span(row.data, audio)
    utt_id = row.data.get("utt_id")
    if utt_id in (None, ""):
        utt_id = audio if start_s == 0.0 and end_s is None else f"{audio}@{start_s:g}-{_end(end_s)}"
    return Utterance(
        line=row.line,
        utt_id=str(utt_id),
        audio=audio,
        audio_path=path,
        text=text,
        duration_s=float(duration) if duration is not None else None,
        recorded_at=recorded_at,
        start_s=start_s,
        end_s=end_s,
        fields={k: v for k, v in row.data.items() if k not in RESERVED_FIELDS},
    )


def _end(end_s: float | None) -> str:
    return "" if end_s is None else f"{end_s:g}"


def _span(data: Mapping[str, Any], audio: str) -> tuple[float, float | None]:
    """The row's ``start_s`` / ``end_s``: a segment of the file, or (0, None) for all of it."""
    bounds: list[float | None] = []
    for key in ("start_s", "end_s"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value) or value < 0):
            raise RowError(f"{key!r} {value!r} is not a number of seconds >= 0", audio)
        bounds.append(None if value is None else float(value))
    start_s, end_s = bounds[0] or 0.0, bounds[1]
    if end_s is not None and end_s <= start_s:
        raise RowError(f"'end_s' ({end_s:g}) must be after 'start_s' ({start_s:g})", audio)
    return start_s, end_s
