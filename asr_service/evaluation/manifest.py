"""The evaluation manifest: JSON lines, one utterance a line, read with every bad row reported.

Format (compatible with ``shared/data/speech/manifest.jsonl``)::

    {"audio": "audio/a.wav", "text": "go forward ten meters", "duration": 2.8,
     "recorded_at": "2025-03-14", "speaker": "s1", "tags": ["command", "male"], "device": "pixel-8"}

- ``audio`` (required): path of the audio file, relative to the manifest's folder unless absolute.
- ``text`` (required, non-empty): the reference transcript as written; it is normalised before scoring.
- ``duration`` (optional): seconds.
- ``recorded_at`` (optional): ISO 8601 date (``2025-03-14``) or time (``2025-03-14T09:30:00+01:00``);
  a time without offset and a bare date are taken as UTC. Date filters need it.
- ``utt_id`` (optional): the utterance's identity in results and comparisons; default: ``audio`` as written.
- any other field (``tags``, ``speaker``, ``device``, ``age_group`` ...) is a slice key for ``--by``;
  a list field slices by each of its values (a row tagged ``["noisy", "male"]`` counts in both slices).

A row that is not a JSON object, has no ``audio`` or no ``text``, points at a missing file, or carries a
bad ``duration``/``recorded_at`` becomes a `RowProblem` with its line number: excluded from scores,
counted and listed in the results, never silently dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from asr_service.evaluation.errors import ManifestError

__all__ = ["RESERVED_FIELDS", "Manifest", "RowProblem", "Utterance", "load_manifest", "parse_timestamp"]

logger = logging.getLogger(__name__)

RESERVED_FIELDS = frozenset({"audio", "text", "duration", "recorded_at", "utt_id"})
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
    fields: Mapping[str, Any] = field(default_factory=dict)  # every other field: the slice keys


@dataclass(frozen=True, kw_only=True)
class RowProblem:
    """A manifest row excluded from the scores, and why."""

    line: int
    audio: str  # "" when the row had none
    reason: str

    def to_json(self) -> dict[str, Any]:
        """As written in results.json."""
        return {"line": self.line, "audio": self.audio, "reason": self.reason}


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


def load_manifest(path: str | Path, *, check_files: bool = True) -> Manifest:
    """Read a JSON-lines manifest; a bad row becomes a `RowProblem`, an unreadable file a `ManifestError`."""
    manifest_path = Path(path)
    try:
        lines = manifest_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest {manifest_path}: cannot read it ({exc})") from exc
    base = manifest_path.resolve().parent
    utterances: list[Utterance] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            utt = _parse_row(line, number, base, check_files=check_files)
        except _BadRow as bad:
            problems.append(RowProblem(line=number, audio=bad.audio, reason=str(bad)))
            continue
        if utt.utt_id in seen:
            reason = f"duplicate utterance id {utt.utt_id!r} (first at line {seen[utt.utt_id]})"
            problems.append(RowProblem(line=number, audio=utt.audio, reason=reason))
            continue
        seen[utt.utt_id] = number
        utterances.append(utt)
    for problem in problems:
        logger.warning("manifest %s line %d: %s", manifest_path, problem.line, problem.reason)
    return Manifest(path=manifest_path, utterances=tuple(utterances), problems=tuple(problems))


class _BadRow(ValueError):
    def __init__(self, reason: str, audio: str = "") -> None:
        super().__init__(reason)
        self.audio = audio


def _parse_row(line: str, number: int, base: Path, *, check_files: bool) -> Utterance:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _BadRow(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(row, dict):
        raise _BadRow(f"not a JSON object (a {type(row).__name__})")
    audio = row.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        raise _BadRow("no 'audio' path")
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _BadRow("no reference 'text'", audio)
    audio_path = Path(audio) if Path(audio).is_absolute() else base / audio
    if check_files and not audio_path.is_file():
        raise _BadRow(f"audio file not found: {audio_path}", audio)
    duration = row.get("duration")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0):
        raise _BadRow(f"'duration' {duration!r} is not a number of seconds >= 0", audio)
    recorded_at = None
    if row.get("recorded_at") is not None:
        try:
            recorded_at = parse_timestamp(row["recorded_at"])
        except ValueError as exc:
            raise _BadRow(str(exc), audio) from None
    utt_id = row.get("utt_id")
    return Utterance(
        line=number,
        utt_id=str(utt_id) if utt_id not in (None, "") else audio,
        audio=audio,
        audio_path=audio_path,
        text=text,
        duration_s=float(duration) if duration is not None else None,
        recorded_at=recorded_at,
        fields={k: v for k, v in row.items() if k not in RESERVED_FIELDS},
    )
