"""The request log's writer: a bounded queue the server drops rows into, and one thread that writes them.

The request path only calls `RequestLog.submit`, which puts the entry on a bounded queue and returns:
it never waits for the disk and never raises (a full queue or degraded logging drops the row and
counts it). One daemon thread takes rows off the queue in batches and, holding the store's lock,
writes each clip's WAV (temp file, then rename), then appends the batch's lines to each partition's
files in one write, fsync'ed per batch when `options.fsync`. A SIGKILL therefore loses at most the
rows in flight; the writer repairs what it left (torn last line, temp files, unnamed WAVs) when it
starts.

A disk that refuses (full, read-only, gone) degrades logging instead of failing requests: `degraded`
says why, new rows are dropped and counted, and the writer tries again every `RETRY_INTERVAL_S`.
Retention and the size cap are enforced when the writer starts, every `MAINTENANCE_INTERVAL_S`, and
whenever a batch takes the store past `max_bytes`; with today's partition alone past the cap,
logging pauses ("size cap reached") until a new day or a purge frees room.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import queue
import re
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from asr_service.config import RequestLogOptions
from asr_service.request_log._counts import Counts
from asr_service.request_log._entry import LogEntry, clip_row, feedback_row
from asr_service.request_log._files import (
    AUDIO_DIR,
    FEEDBACK_FILE,
    MANIFEST_FILE,
    TEMP_SUFFIX,
    append_lines,
    fsync_dir,
    store_lock,
    write_all,
)
from asr_service.request_log._store import enforce_limits, repair_store

__all__ = ["MAINTENANCE_INTERVAL_S", "RETRY_INTERVAL_S", "RequestLog"]

logger = logging.getLogger(__name__)

RETRY_INTERVAL_S = 30.0  # a degraded log tries the disk again this often
MAINTENANCE_INTERVAL_S = 600.0  # retention and size cap checked this often (and at start)
_POLL_S = 0.2  # the writer wakes this often when idle, to notice the clock and a stop
_MAX_BATCH_ROWS = 256  # one lock hold and one fsync per batch; bounds how long purge may wait
_PROBE_BYTES = 4096
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class _Partition:
    """One day's share of a batch, serialised and ready to write."""

    path: Path
    clip_lines: list[bytes] = field(default_factory=list)
    feedback_lines: list[bytes] = field(default_factory=list)
    wavs: list[tuple[str, LogEntry]] = field(default_factory=list)  # (name under audio/, entry)

    @property
    def rows(self) -> int:
        return len(self.clip_lines) + len(self.feedback_lines)


class RequestLog:
    """The consented request log of one server: `submit` from the request path, `start` / `stop` around it.

    `clock` (seconds since the epoch) decides "today" for retention and the size cap, and when a
    degraded log retries; tests pass a fake one.
    """

    def __init__(self, options: RequestLogOptions, registry: CollectorRegistry | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        if options.dir is None:
            raise ValueError("RequestLog needs request_log.dir (the store's folder); unset, nothing is logged")
        self._options = options
        self._root = Path(options.dir)
        self._clock = clock
        self._queue: queue.Queue[LogEntry | None] = queue.Queue(maxsize=options.queue_size)
        self._counts = Counts(registry)
        self._degraded: str | None = None
        self._stopping = False
        self._stop_event = threading.Event()
        self._accepting = threading.Lock()  # a row is either queued before the stop or refused by it
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self._maintain_at = 0.0

    # -- the caller's side ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread; before its first batch it repairs what a crash left in the store."""
        if self._thread is not None or self._stopping:
            return
        self._thread = threading.Thread(target=self._run, name="request-log-writer", daemon=True)
        self._thread.start()

    def submit(self, entry: LogEntry) -> bool:
        """Queue `entry` for the writer; False when it was dropped (queue full, logging degraded or stopped).

        Never blocks on the disk and never raises: the request that produced the entry must not notice.
        """
        with self._accepting:
            if self._degraded is not None or self._stopping:
                self._counts.add("dropped_degraded")
                return False
            try:
                self._queue.put_nowait(entry)
            except queue.Full:
                self._counts.add("dropped_queue_full")
                return False
            return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking rows, write every row already queued, then stop the writer (at most `timeout_s`)."""
        with self._accepting:
            self._stopping = True
            self._stop_event.set()
        with contextlib.suppress(queue.Full):  # only a wake-up call: a full queue has the writer awake
            self._queue.put_nowait(None)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("request log: the writer did not finish within %.1f s; %d rows still queued",
                               timeout_s, self._queue.qsize())

    @property
    def degraded(self) -> str | None:
        """Why the disk refuses rows now ("disk full", "not writable: ...", "size cap reached"), or None
        while it takes them. A stopped log is not degraded (no alarm at shutdown), though `submit` then
        drops rows (counted as dropped_degraded; `stats()["stopped"]` says so)."""
        return self._degraded

    def stats(self) -> dict[str, Any]:
        """Counts so far: written, dropped (queue_full, degraded), failed; bytes in the store, rows queued,
        the degraded reason (None when healthy) and whether the log was stopped."""
        return {**self._counts.snapshot(), "queued": self._queue.qsize(), "degraded": self._degraded,
                "stopped": self._stopping}

    # -- the writer thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        self._open_store(self._clock())
        while True:
            # Read before the queue: a stop seen here came after every row it let in, so an empty take
            # then means nothing is left. (Checked after the take, a row queued during a slow retry or
            # maintenance step just before the stop would be left behind.)
            stopping = self._stop_event.is_set()
            batch = self._next_batch(stopping)
            now = self._clock()
            if self._degraded is not None and now >= self._retry_at:
                self._retry(now)
            elif self._degraded is None and now >= self._maintain_at:
                self._maintain(now)
            if batch:
                try:
                    self._write(batch, now)
                except Exception:  # a bug here must not kill the thread: the queue would fill for good
                    logger.exception("request log: a batch of %d rows failed", len(batch))
                    self._counts.add("failed", len(batch))
            elif stopping:
                return

    def _next_batch(self, stopping: bool) -> list[LogEntry]:
        try:  # stopping: no waiting (the wake-up None may already have been taken with the last batch)
            first = self._queue.get_nowait() if stopping else self._queue.get(timeout=_POLL_S)
        except queue.Empty:
            return []
        batch = [first] if first is not None else []
        while len(batch) < _MAX_BATCH_ROWS:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is not None:
                batch.append(entry)
        return batch

    def _open_store(self, now: float) -> None:
        """Create the folder, repair the store after a crash, apply retention and the size cap."""
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            with store_lock(self._root):
                repair_store(self._root)
                self._enforce_limits(now)
        except OSError as exc:
            self._degrade(exc, now)

    def _write(self, batch: list[LogEntry], now: float) -> None:
        if self._degraded is not None:
            self._counts.add("dropped_degraded", len(batch))
            return
        parts = self._prepare(batch)
        pending = sum(part.rows for part in parts.values())
        try:
            with store_lock(self._root):
                for part in parts.values():
                    added = self._write_partition(part)
                    pending -= part.rows
                    self._counts.add("written", part.rows)
                    self._counts.set_bytes(self._counts.bytes + added)
                if self._counts.bytes > self._options.max_bytes:
                    self._enforce_limits(now)
        except OSError as exc:
            self._counts.add("failed", pending)
            self._degrade(exc, now)

    def _prepare(self, batch: list[LogEntry]) -> dict[date, _Partition]:
        """Serialise the batch by partition (off the lock); a row that cannot be serialised fails alone."""
        parts: dict[date, _Partition] = {}
        for entry in batch:
            day = entry.recorded_at.astimezone(UTC).date()
            part = parts.setdefault(day, _Partition(path=self._root / day.isoformat()))
            try:
                if entry.kind == "feedback":
                    row = feedback_row(entry, redacted=self._options.redact)
                    part.feedback_lines.append(_json_line(row))
                    continue
                wav = _wav_name(entry) if entry.has_audio else None
                row = clip_row(entry, audio=f"{AUDIO_DIR}/{wav}" if wav else None, redacted=self._options.redact)
                part.clip_lines.append(_json_line(row))
                if wav:
                    part.wavs.append((wav, entry))
            except (TypeError, ValueError) as exc:  # a caller's value JSON cannot hold; the others go on
                logger.error("request log: row %s/%d not written: %s", entry.request_id, entry.clip_index, exc)
                self._counts.add("failed")
        return {day: part for day, part in parts.items() if part.rows}

    def _write_partition(self, part: _Partition) -> int:
        """WAVs first (each complete under its name before any line names it), then the lines. Returns
        the bytes added. On an error, the WAVs of lines not written are removed again."""
        fsync = self._options.fsync
        created = not part.path.is_dir()
        part.path.mkdir(exist_ok=True)
        written: list[Path] = []
        added = 0
        try:
            if part.wavs:
                audio_dir = part.path / AUDIO_DIR
                audio_dir.mkdir(exist_ok=True)
                for name, entry in part.wavs:
                    added += _write_wav(audio_dir / name, entry, fsync=fsync)
                    written.append(audio_dir / name)
                if fsync:
                    fsync_dir(audio_dir)
            if created and fsync:
                fsync_dir(self._root)
            for name, lines in ((MANIFEST_FILE, part.clip_lines), (FEEDBACK_FILE, part.feedback_lines)):
                if lines:
                    data = b"".join(lines)
                    append_lines(part.path / name, data, fsync=fsync)
                    added += len(data)
        except OSError:
            for path in written:
                with contextlib.suppress(OSError):  # else the next start's repair removes it
                    path.unlink()
            raise
        return added

    def _enforce_limits(self, now: float) -> None:
        """Retention and the size cap (under the lock); degrade when today alone is past the cap."""
        def removed(day: date, size: int) -> None:
            logger.info("request log: removed partition %s (%d bytes): retention or size cap", day, size)

        total, fits = enforce_limits(self._root, now=datetime.fromtimestamp(now, UTC),
                                     retention_days=self._options.retention_days,
                                     max_bytes=self._options.max_bytes, on_removed=removed)
        self._counts.set_bytes(total)
        self._maintain_at = now + MAINTENANCE_INTERVAL_S
        if not fits:
            self._set_degraded("size cap reached", now)
            return
        if self._degraded == "size cap reached":
            self._set_degraded(None, now)

    def _maintain(self, now: float) -> None:
        try:
            with store_lock(self._root):
                self._enforce_limits(now)
        except OSError as exc:
            self._degrade(exc, now)

    def _retry(self, now: float) -> None:
        """Try the disk again: the folder, the lock, a small write; then retention and the cap."""
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            with store_lock(self._root):
                if self._degraded != "size cap reached":
                    _probe(self._root)
                    self._set_degraded(None, now)
                    repair_store(self._root)  # a failed batch may have left a torn line or a temp file
                self._enforce_limits(now)
        except OSError as exc:
            self._degrade(exc, now)

    def _degrade(self, exc: OSError, now: float) -> None:
        if exc.errno in _FULL_ERRNOS:
            reason = "disk full"
        else:
            where = f" ({exc.filename})" if exc.filename else ""
            reason = f"not writable: {exc.strerror or exc}{where}"
        self._set_degraded(reason, now)

    def _set_degraded(self, reason: str | None, now: float) -> None:
        if reason is not None:
            self._retry_at = now + RETRY_INTERVAL_S
        if reason == self._degraded:
            return
        if reason is None:
            logger.warning("request log: writing again (was degraded: %s)", self._degraded)
        else:
            logger.warning("request log: degraded, rows are dropped until it recovers (retry every %.0f s): %s",
                           RETRY_INTERVAL_S, reason)
        self._degraded = reason
        self._counts.set_degraded(reason is not None)


def _json_line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def _wav_name(entry: LogEntry) -> str:
    """A file name of the request id (made safe), the clip index and a random part: two rows with the same
    ids (a client retrying) never share a file, so deleting one row's audio never deletes the other's."""
    stem = _UNSAFE_NAME.sub("_", entry.request_id)[:48] or "request"
    return f"{stem}-{entry.clip_index}-{os.urandom(4).hex()}.wav"


def _write_wav(path: Path, entry: LogEntry, *, fsync: bool) -> int:
    """A 16-bit mono WAV, complete under a temp name before it is renamed to `path`; returns its size.

    Five syscalls (four without fsync), each of which lets go of the GIL: with another thread busy in
    Python, each waits up to a switch interval to get it back, which is what bounds the writer then.
    """
    pcm = entry.pcm or b""
    rate = entry.sample_rate_hz
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1, rate, rate * 2,
                         2, 16, b"data", len(pcm))
    temp = path.with_name(path.name + TEMP_SUFFIX)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    data = header + pcm
    try:
        write_all(fd, data, fsync=fsync)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    os.close(fd)
    os.replace(temp, path)
    return len(data)


def _probe(root: Path) -> None:
    """Write, sync and remove a small file: raises the disk's error while it is still full or read-only."""
    probe = root / (".probe" + TEMP_SUFFIX)
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, b"\0" * _PROBE_BYTES)
        os.fsync(fd)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            probe.unlink()
