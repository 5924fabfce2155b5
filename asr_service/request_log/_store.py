"""Reading the store, and deleting from it: by subject, by age, by size; and the repair after a crash.

Readers take no lock: they see whole lines only (a torn last line is skipped) and, during a purge,
either the old or the new manifest (purge replaces it by rename). Everything that deletes takes the
store's lock (`store_lock`), so it never races the writer: the writer holds it from its first WAV to
its last line of a batch, which also means that under the lock a WAV no line names is crash debris,
never a row about to be written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from asr_service.request_log._files import (
    AUDIO_DIR,
    FEEDBACK_FILE,
    MANIFEST_FILE,
    TEMP_SUFFIX,
    fsync_dir,
    partitions,
    remove_debris,
    remove_partition,
    repair_tail,
    replace_file,
    store_lock,
    tree_bytes,
)

__all__ = [
    "PurgeResult",
    "StoreStats",
    "enforce_limits",
    "purge",
    "read_rows",
    "repair_store",
    "store_stats",
]

logger = logging.getLogger(__name__)

_FILES = {"clip": MANIFEST_FILE, "feedback": FEEDBACK_FILE}


@dataclass(frozen=True, kw_only=True)
class PurgeResult:
    """What a purge removed: clip rows, feedback rows, audio files, whole partitions, and bytes."""

    rows: int = 0  # clip rows (manifest lines)
    feedback_rows: int = 0
    files: int = 0  # WAV files (with any a crash had left unnamed)
    partitions: int = 0  # whole days, by `before`
    bytes_freed: int = 0

    def __add__(self, other: PurgeResult) -> PurgeResult:
        return PurgeResult(rows=self.rows + other.rows, feedback_rows=self.feedback_rows + other.feedback_rows,
                           files=self.files + other.files, partitions=self.partitions + other.partitions,
                           bytes_freed=self.bytes_freed + other.bytes_freed)


@dataclass(frozen=True, kw_only=True)
class StoreStats:
    """What the store holds (`asr logs stats`)."""

    partitions: int
    rows: int  # clip rows
    feedback_rows: int
    clips_with_audio: int
    bytes: int
    oldest: date | None
    newest: date | None


def read_rows(directory: str | Path, *, since: datetime | None = None,
              kinds: Collection[str] = ("clip",)) -> Iterator[dict[str, Any]]:
    """Every complete row of the store, oldest partition first (within one: clips, then feedback).

    `since` (naive = UTC) keeps rows recorded at or after it. Each row gets ``kind``, ``partition``
    (YYYY-MM-DD) and, when it has audio, an absolute ``audio_path``. A torn last line (a crash, or the
    writer mid-append) is skipped; so is, with a warning, a complete line that is not a JSON object.
    """
    unknown = set(kinds) - set(_FILES)
    if unknown:
        raise ValueError(f"kinds: unknown {sorted(unknown)} (known: {', '.join(_FILES)})")
    root = Path(directory)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    for day, partition in partitions(root):
        if since is not None and day < since.astimezone(UTC).date():
            continue
        for kind in (k for k in _FILES if k in kinds):
            for row in _rows_of(partition / _FILES[kind]):
                if since is not None and not _at_or_after(row.get("recorded_at"), since):
                    continue
                row["kind"] = kind
                row["partition"] = partition.name
                if isinstance(row.get("audio"), str):
                    row["audio_path"] = str((partition / row["audio"]).absolute())
                yield row


def store_stats(directory: str | Path) -> StoreStats:
    """Count the store's partitions, rows, clips with audio and bytes (FileNotFoundError when missing)."""
    root = Path(directory)
    days = partitions(root)
    rows = feedback = with_audio = 0
    for _, partition in days:
        for row in _rows_of(partition / MANIFEST_FILE):
            rows += 1
            with_audio += isinstance(row.get("audio"), str)
        feedback += sum(1 for _ in _rows_of(partition / FEEDBACK_FILE))
    return StoreStats(partitions=len(days), rows=rows, feedback_rows=feedback, clips_with_audio=with_audio,
                      bytes=tree_bytes(root), oldest=days[0][0] if days else None,
                      newest=days[-1][0] if days else None)


def purge(directory: str | Path, *, subject: str | None = None, before: date | None = None) -> PurgeResult:
    """Remove every row (clip and feedback) of `subject` and their WAV files, in every partition; and/or
    every partition of a day before `before`.

    Safe while a server writes: it holds the store's lock, and rewrites a manifest by temp file and
    rename. A WAV that no row names (a crash between the WAV and its line) is removed too, since it
    could be the subject's. ValueError when neither is given or `subject` is empty (an empty subject
    would match every row logged without one); FileNotFoundError when the store does not exist.
    """
    if subject is None and before is None:
        raise ValueError("purge needs a subject or a day (before), or both")
    if subject is not None and not subject.strip():
        raise ValueError("purge: the subject must not be empty (rows without a subject have subject_id '')")
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such request log directory")
    result = PurgeResult()
    with store_lock(root):
        remove_debris(root)
        for day, partition in partitions(root):
            if before is not None and day < before:
                counted = _partition_counts(partition)
                result += PurgeResult(rows=counted.rows, feedback_rows=counted.feedback_rows, files=counted.files,
                                      partitions=1, bytes_freed=remove_partition(partition))
            elif subject is not None:
                result += _purge_subject(partition, subject)
        fsync_dir(root)
    return result


def repair_store(directory: Path) -> int:
    """After a crash (the writer calls it under the lock at start): cut torn tails, remove temp files,
    half-deleted partitions and WAVs no line names. Returns the files and lines removed."""
    removed = remove_debris(directory)
    for _, partition in partitions(directory):
        for name in (MANIFEST_FILE, FEEDBACK_FILE):
            removed += _repair_file(partition / name)
        removed += len(_remove_orphans(partition, _audio_names(partition)))
    return removed


def enforce_limits(directory: Path, *, now: datetime, retention_days: float, max_bytes: int,
                   on_removed: Callable[[date, int], None]) -> tuple[int, bool]:
    """Delete partitions past retention, then the oldest (never today's) until the store fits
    `max_bytes`. Call under the lock. Returns the bytes left and whether they fit.

    A partition goes once its first instant (00:00 UTC of its day) is `retention_days` old, so that no
    row outlives the retention (rows from late in a day go up to a day early). Today's partition is
    never deleted: past the cap with today alone, the caller stops logging until a new day or a purge
    frees room.
    """
    today = now.astimezone(UTC).date()
    days = partitions(directory)
    sizes = {day: tree_bytes(path) for day, path in days}
    total = sum(sizes.values())
    for day, path in days:
        expired = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=retention_days) <= now
        if day < today and (expired or total > max_bytes):
            remove_partition(path)
            total -= sizes[day]
            on_removed(day, sizes[day])
    return total, total <= max_bytes


def _purge_subject(partition: Path, subject: str) -> PurgeResult:
    removed_utts: set[str] = set()
    freed = 0
    rows_removed = feedback_removed = 0
    doomed_audio: set[str] = set()
    manifest = partition / MANIFEST_FILE

    def of_subject(row: dict[str, Any] | None, raw: bytes) -> bool:
        if row is None:  # unreadable: drop it if it mentions the subject at all
            return json.dumps(subject).encode() in raw
        return row.get("subject_id") == subject or row.get("utt_id") in removed_utts

    if manifest.exists():
        kept, dropped = _split(manifest, of_subject)
        for row in dropped:
            removed_utts.add(str(row.get("utt_id")))
            if isinstance(row.get("audio"), str):
                doomed_audio.add(row["audio"])
        rows_removed = len(dropped)
        if dropped:
            freed += manifest.stat().st_size - len(kept)
            replace_file(manifest, kept)
    feedback = partition / FEEDBACK_FILE
    if feedback.exists():
        kept, dropped = _split(feedback, of_subject)
        feedback_removed = len(dropped)
        if dropped:
            freed += feedback.stat().st_size - len(kept)
            replace_file(feedback, kept)
    files = 0
    for audio in sorted(doomed_audio):
        path = partition / audio
        if path.is_file():
            freed += path.stat().st_size
            path.unlink()
            files += 1
    orphans = _remove_orphans(partition, _audio_names(partition))
    freed += sum(orphans)
    if files or orphans:
        fsync_dir(partition / AUDIO_DIR)
    return PurgeResult(rows=rows_removed, feedback_rows=feedback_removed, files=files + len(orphans),
                       bytes_freed=freed)


def _split(path: Path, doomed: Callable[[dict[str, Any] | None, bytes], bool]) -> tuple[bytes, list[dict[str, Any]]]:
    """The lines of `path` to keep (bytes as they are, a torn tail dropped) and the rows `doomed` picks."""
    kept: list[bytes] = []
    dropped: list[dict[str, Any]] = []
    for raw in _complete_lines(path):
        row = _parse(raw)
        if doomed(row, raw):
            dropped.append(row or {})
        else:
            kept.append(raw)
    return b"".join(kept), dropped


def _partition_counts(partition: Path) -> PurgeResult:
    rows = sum(1 for _ in _rows_of(partition / MANIFEST_FILE))
    feedback = sum(1 for _ in _rows_of(partition / FEEDBACK_FILE))
    audio = partition / AUDIO_DIR
    files = sum(1 for p in audio.iterdir() if p.is_file()) if audio.is_dir() else 0
    return PurgeResult(rows=rows, feedback_rows=feedback, files=files)


def _audio_names(partition: Path) -> set[str]:
    """The audio paths the partition's manifest names, as written (relative to the partition)."""
    return {row["audio"] for row in _rows_of(partition / MANIFEST_FILE) if isinstance(row.get("audio"), str)}


def _remove_orphans(partition: Path, named: set[str]) -> list[int]:
    """Delete the WAVs of `partition` that no line names; returns their sizes. Under the lock only."""
    audio = partition / AUDIO_DIR
    if not audio.is_dir():
        return []
    sizes = []
    for path in audio.iterdir():
        if path.is_file() and f"{AUDIO_DIR}/{path.name}" not in named and not path.name.endswith(TEMP_SUFFIX):
            sizes.append(path.stat().st_size)
            path.unlink()
            logger.info("request log: removed %s, which no row names (a crash before its row was written)", path)
    return sizes


def _repair_file(path: Path) -> int:
    if not path.is_file():
        return 0
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        cut = repair_tail(fd)
    finally:
        os.close(fd)
    if cut:
        logger.warning("request log: cut a torn last line (%d bytes) off %s, left by a crash", cut, path)
    return int(cut > 0)


def _complete_lines(path: Path) -> Iterator[bytes]:
    """The lines of `path` that end with a newline; nothing when it does not exist or is no regular file
    (a device or a pipe put there by mistake would never end)."""
    if not path.is_file():
        return
    try:
        stream = path.open("rb")
    except FileNotFoundError:  # purged or expired meanwhile
        return
    with stream:
        for raw in stream:
            if raw.endswith(b"\n"):
                yield raw


def _rows_of(path: Path) -> Iterator[dict[str, Any]]:
    for number, raw in enumerate(_complete_lines(path), start=1):
        row = _parse(raw)
        if row is None:
            logger.warning("request log: %s:%d is not a JSON object; skipped", path, number)
            continue
        yield row


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def _at_or_after(value: object, since: datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment >= since
