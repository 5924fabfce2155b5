"""JSON-lines files read in one place: every row with its line number, every bad line reported alike.

The evaluation manifest, ``asr transcribe-batch`` and the labeling tools (clip manifests, transcripts
on stdin) all read their input here, so that the same file gets the same verdict everywhere. The rules:

- UTF-8, with or without a byte-order mark; lines end with ``\\n`` or ``\\r\\n``. Lines are split on
  ``\\n`` only, so a text holding U+2028 or U+0085 stays one row.
- A blank line (whitespace only) is no row, but it counts for the line numbers that follow. There are
  no comments: a ``#`` line is not valid JSON.
- Every other line is one JSON object; anything else is a `RowProblem` with its 1-based line number:
  ``not valid JSON (<why> at column <n>)`` or ``not a JSON object (an array)``. Each caller checks the
  fields of the rows it gets and turns its own refusals into problems through `RowError`.
- A file that cannot be opened (missing, a directory, no permission) or that is not UTF-8 raises
  `UnreadableFileError` naming the file (and the line, for bad UTF-8): never a traceback, and never a
  partly read file passed off as whole.
- ``audio`` is a path relative to the folder the manifest is in, unless absolute: `audio_path`.

No import of the rest of ``asr_service``: the labeling package uses this module without the server.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Row", "RowError", "RowProblem", "UnreadableFileError", "audio_path", "read_lines", "read_rows"]

_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


@dataclass(frozen=True, kw_only=True)
class Row:
    """One JSON object read from a line."""

    line: int  # 1-based
    data: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class RowProblem:
    """A line that is not a usable row, and why."""

    line: int  # 1-based; 0 where the problem belongs to no line (a file of a folder)
    audio: str = ""  # the row's audio as written; "" when it had none or the line was no row
    reason: str

    def where(self, source: str | Path) -> str:
        """The problem as one line of text: ``source:line: reason``."""
        return f"{source}:{self.line}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        """As written in results.json."""
        return {"line": self.line, "audio": self.audio, "reason": self.reason}


class RowError(ValueError):
    """A caller's check refused a row; `problem` makes it a `RowProblem`."""

    def __init__(self, reason: str, audio: str = "") -> None:
        super().__init__(reason)
        self.audio = audio

    def problem(self, line: int) -> RowProblem:
        """This refusal as the problem of line `line`."""
        return RowProblem(line=line, audio=self.audio, reason=str(self))


class UnreadableFileError(Exception):
    """The file cannot be read at all (missing, a directory, no permission, not UTF-8)."""


def read_rows(path: str | Path) -> Iterator[Row | RowProblem]:
    """The rows of a JSON-lines file, and a problem for every line that is neither blank nor an object."""
    try:
        with Path(path).open("rb") as stream:
            yield from read_lines(stream, source=str(path))
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot read it ({exc.strerror or exc})") from exc


def read_lines(lines: Iterable[bytes], *, source: str) -> Iterator[Row | RowProblem]:
    """The rows of JSON lines as bytes (a file opened "rb", ``sys.stdin.buffer``); `source` names it in errors."""
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        text = _decode(raw.removesuffix(b"\n").removesuffix(b"\r"), source, number)
        if text.strip():
            yield _parse(text, number)


def audio_path(row: Row, manifest: str | Path, *, must_exist: bool) -> tuple[str, Path]:
    """The row's ``audio`` as written, and as a path: relative to the manifest's folder unless absolute.

    The folder is the one the manifest is named in (a symlinked manifest is not followed), and the path
    is normalised (``a/../b.wav`` is ``b.wav``). `RowError` when there is no ``audio``, or, with
    `must_exist`, when it names no file.
    """
    audio = row.data.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        raise RowError("no 'audio' path")
    written = Path(audio)
    path = Path(os.path.normpath(written if written.is_absolute() else Path(manifest).absolute().parent / written))
    if must_exist and not path.is_file():
        raise RowError(f"audio file not found: {path}", audio)
    return audio, path


def _decode(raw: bytes, source: str, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(f"{source}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start + 1} "
                                  "of the line); save the file as UTF-8") from None


def _parse(text: str, number: int) -> Row | RowProblem:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        why = exc.msg.removesuffix(" at")  # "Unterminated string starting at", "Invalid control character at"
        return RowProblem(line=number, reason=f"not valid JSON ({why} at column {exc.colno})")
    if not isinstance(data, dict):
        return RowProblem(line=number, reason=f"not a JSON object ({_JSON_TYPES.get(type(data), 'a value')})")
    return Row(line=number, data=data)
