"""The review queue's source: clips the server logged with the user's consent, least confident first.

The request log (`asr_service.request_log`, written by the server) is a folder of daily partitions,
``DIR/YYYY-MM-DD/manifest.jsonl`` (one line per kept clip, in the import format: ``audio`` relative to
the partition, ``text`` the model's hypothesis, ``confidence``, ``model_version``, ``utt_id``,
``recorded_at``, ``client_tags`` and each tag as ``client_<key>``, ``subject_id`` ...) and
``DIR/YYYY-MM-DD/feedback.jsonl`` (what users did with results: an ``edited`` line carries the text the
user ended with). This module reads those files as a documented format, not through the server's
code (labeling depends only on `asr_service.jsonl`).

Only clips logged with their audio (consent "audio and results") can be reviewed. A user's edited
text, when there is one, becomes ``user_text``: the import shows it as a second pre-annotation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from asr_service.jsonl import Row, read_rows
from labeling._errors import InputError

__all__ = ["LogSelection", "log_review_rows", "parse_age", "write_review_manifest"]

_PARTITION = re.compile(r"\d{4}-\d{2}-\d{2}")
_AGE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_AGE_S = {"h": 3600, "d": 86_400, "w": 7 * 86_400}
# kept by the server for monitoring and deletion, not task data a transcriptionist needs (or that the
# export should carry as if it were a reference)
_DROPPED = ("reference", "audio_stats", "vad", "latency_ms", "partition", "audio_path")


def parse_age(value: str) -> timedelta:
    """'7d', '2w' or '36h' as a timedelta (InputError otherwise)."""
    match = _AGE.match(value)
    if not match or int(match.group(1)) <= 0:
        raise InputError(f"--since: {value!r} is not a positive age like 7d, 2w or 36h")
    return timedelta(seconds=int(match.group(1)) * _AGE_S[match.group(2)])


@dataclass(frozen=True, kw_only=True)
class LogSelection:
    """Which logged clips go to review."""

    since: datetime | None = None  # recorded at or after (UTC)
    confidence_below: float | None = None  # only results less confident than this (nulls always qualify)
    limit: int | None = None  # at most this many, least confident first


def log_review_rows(log_dir: Path, selection: LogSelection) -> list[dict[str, Any]]:
    """Import rows for the logged clips that `selection` picks, least confident first, audio paths absolute."""
    if not log_dir.is_dir():
        raise InputError(f"--from-log: {log_dir} is not a folder (the server's [request_log] dir)")
    edits = _edits(log_dir, selection.since)
    rows: list[dict[str, Any]] = []
    for partition, row in _rows(log_dir, "manifest.jsonl", selection.since):
        if not isinstance(row.get("audio"), str) or not row["audio"]:
            continue  # logged with consent "results only": no audio to review
        confidence = row.get("confidence")
        has_text = bool(str(row.get("text") or "").strip())
        if selection.confidence_below is not None and has_text and isinstance(confidence, int | float) \
                and confidence >= selection.confidence_below:
            continue
        item = {k: v for k, v in row.items() if k not in _DROPPED}
        item["audio"] = str((partition / row["audio"]).absolute())
        edited = edits.get(str(row.get("utt_id")))
        if edited:
            item["user_text"] = edited
        rows.append(item)
    rows.sort(key=lambda r: (r.get("confidence") if isinstance(r.get("confidence"), int | float) else -1.0,
                             str(r.get("recorded_at", ""))))
    return rows[: selection.limit] if selection.limit is not None else rows


def write_review_manifest(rows: list[dict[str, Any]], out: Path) -> Path:
    """The rows as an import manifest at `out` (the import reads a file: it validates every line first)."""
    if not rows:
        raise InputError("--from-log: no logged clip with audio matches (check --since, --confidence-below, "
                         "and that clients consent to audio logging)")
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return out


def _edits(log_dir: Path, since: datetime | None) -> dict[str, str]:
    """utt_id -> the text a user last edited the result into."""
    edits: dict[str, str] = {}
    for _, row in _rows(log_dir, "feedback.jsonl", since):
        if row.get("action") == "edited" and isinstance(row.get("edited_text"), str) and row["edited_text"].strip():
            edits[str(row.get("utt_id"))] = row["edited_text"]
    return edits


def _rows(log_dir: Path, name: str, since: datetime | None) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(partition, row) of every complete line of `name` in the partitions recorded since `since`."""
    first_day: date | None = since.astimezone(UTC).date() if since is not None else None
    for partition in sorted(p for p in log_dir.iterdir() if p.is_dir() and _PARTITION.fullmatch(p.name)):
        if first_day is not None and date.fromisoformat(partition.name) < first_day:
            continue
        path = partition / name
        if not path.exists():
            continue
        for entry in read_rows(path):
            if not isinstance(entry, Row):  # a line torn by a crash is skipped, as the server's reader does
                continue
            row = entry.data
            if since is not None and not _recorded_since(row, since):
                continue
            yield partition, row


def _recorded_since(row: dict[str, Any], since: datetime) -> bool:
    try:
        recorded = datetime.fromisoformat(str(row.get("recorded_at")))
    except ValueError:
        return False
    return (recorded if recorded.tzinfo else recorded.replace(tzinfo=UTC)) >= since
