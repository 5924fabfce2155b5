"""Placeholder audio for the Label Studio tests (its content does not matter, only that it is a WAV file)."""

from __future__ import annotations

import wave
from pathlib import Path

__all__ = ["write_wav"]


def write_wav(path: Path, seconds: float, rate_hz: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(b"\x00\x01" * int(seconds * rate_hz))
    return path
