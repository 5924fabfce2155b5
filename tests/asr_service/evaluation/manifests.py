"""Small manifests of the evaluation tests' own: the espeak-ng phrases and a JSON-lines writer."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["PHRASES", "write_manifest"]

PHRASES = {
    "hello.wav": "Hello world.",
    "morning.wav": "Good morning, everybody.",
    "forward.wav": "Go forward ten meters.",
}


def write_manifest(path: Path, rows: Iterable[Mapping[str, Any] | str]) -> Path:
    """Rows as JSON lines (a str row is written as is, to make broken lines)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path
