"""The store's layout on disk and the few file operations that keep it whole through crashes.

Layout (see the package docstring)::

    DIR/.lock                       flock'ed by the writer and by purge while they touch files
    DIR/YYYY-MM-DD/manifest.jsonl   one clip a line
    DIR/YYYY-MM-DD/feedback.jsonl   one feedback a line
    DIR/YYYY-MM-DD/audio/*.wav      clips with consent "audio"

The invariants every function here keeps, so that a SIGKILL or a power cut at any instant leaves a
readable store: a line is only ever appended whole (a torn last line, from a crash mid-write, is cut
away before the next append); a WAV appears under its final name only complete (temp file + rename),
and before the line that names it; a rewritten file replaces the old one by rename; a partition is
deleted by renaming it out of the layout first, so it is never seen half-deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

__all__ = [
    "AUDIO_DIR",
    "FEEDBACK_FILE",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "TEMP_SUFFIX",
    "append_lines",
    "fsync_dir",
    "partition_day",
    "partitions",
    "remove_debris",
    "remove_partition",
    "repair_tail",
    "replace_file",
    "store_lock",
    "tree_bytes",
    "write_all",
]

LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.jsonl"
FEEDBACK_FILE = "feedback.jsonl"
AUDIO_DIR = "audio"
TEMP_SUFFIX = ".tmp"  # files being written; never named by a line, removed when found after a crash
_DELETING_PREFIX = ".deleting-"  # a partition renamed out of the layout, being removed
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAIL_CHUNK = 64 * 1024


@contextlib.contextmanager
def store_lock(directory: Path) -> Iterator[None]:
    """Hold the store's exclusive lock (flock on DIR/.lock): the writer and purge never interleave.

    flock locks belong to the open file, so two threads of one process exclude each other too.
    """
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor of the open file releases the lock


def partition_day(name: str) -> date | None:
    """The day a partition folder name stands for, or None for anything else."""
    if not _DAY.match(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def partitions(directory: Path) -> list[tuple[date, Path]]:
    """The partitions of the store, oldest first."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            day = partition_day(entry.name)
            if day is not None and entry.is_dir(follow_symlinks=False):
                found.append((day, Path(entry.path)))
    return sorted(found)


def repair_tail(fd: int) -> int:
    """Cut a torn last line (no trailing newline, left by a crash mid-append) off an open file.

    Returns the bytes removed. Everything up to the last newline was written whole and stays.
    """
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        chunk = os.pread(fd, end - start, start)
        if end == size and chunk.endswith(b"\n"):
            return 0
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            os.ftruncate(fd, keep)
            return size - keep
        end = start
    if size:
        os.ftruncate(fd, 0)
    return size


def write_all(fd: int, data: bytes, *, fsync: bool) -> None:
    """Every byte of `data` to `fd` (a write may take only part of it), then fsync if asked."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    if fsync:
        os.fsync(fd)


def append_lines(path: Path, data: bytes, *, fsync: bool) -> None:
    """Append whole lines to `path` (created if missing), after cutting a torn tail; fsync if asked."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        repair_tail(fd)
        write_all(fd, data, fsync=fsync)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write `data` to a temp file beside `path`, then rename it over `path` (readers see old or new)."""
    temp = path.with_name(path.name + TEMP_SUFFIX)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, data, fsync=fsync)
    finally:
        os.close(fd)
    os.replace(temp, path)
    if fsync:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make the names created or removed in `directory` durable (a rename is only safe after this)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_partition(path: Path) -> int:
    """Delete a partition folder; returns the bytes it held. Renamed out of the layout first, so that a
    crash halfway leaves a hidden folder (removed by `remove_debris`), never manifest lines whose WAVs
    are gone."""
    size = tree_bytes(path)
    hidden = path.with_name(_DELETING_PREFIX + path.name)
    os.replace(path, hidden)
    shutil.rmtree(hidden)
    return size


def remove_debris(directory: Path) -> int:
    """Remove what a crash can leave: half-deleted partitions and temp files. Returns the files removed."""
    removed = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(_DELETING_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
                removed += 1
    for _, partition in partitions(directory):
        for folder in (partition, partition / AUDIO_DIR):
            if not folder.is_dir():
                continue
            for item in folder.iterdir():
                if item.name.endswith(TEMP_SUFFIX) and item.is_file():
                    item.unlink()
                    removed += 1
    return removed


def tree_bytes(path: Path) -> int:
    """Bytes held by the files under `path` (their sizes; folders not counted)."""
    total = 0
    stack = [path]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total
