"""Entries, options and a clock the request log tests control."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from asr_service.config import RequestLogOptions
from asr_service.request_log import LogEntry, RequestLog

# 2025-03-14 09:30 UTC: a fixed "now" for everything that depends on the day
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
SAMPLE_RATE_HZ = 16_000


class FakeClock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pcm(seconds: float = 0.5, *, value: int = 1000) -> bytes:
    """A constant 16-bit mono signal: enough to check sizes and contents."""
    return value.to_bytes(2, "little", signed=True) * int(SAMPLE_RATE_HZ * seconds)


def clip(request_id: str = "req-1", clip_index: int = 0, *, audio: bool = True, at: datetime = NOW,
         **fields: Any) -> LogEntry:
    """A clip entry; with `audio`, consent "audio" and half a second of PCM."""
    values: dict[str, Any] = {
        "kind": "clip", "recorded_at": at, "request_id": request_id, "clip_id": f"c{clip_index}",
        "clip_index": clip_index, "consent": "audio" if audio else "results", "subject_id": "subject-1",
        "client_tags": {"device": "pixel-8", "app_version": "4.2"}, "text": "turn left at the lights",
        "confidence": 0.31, "model_id": "whisper-tiny.en", "model_version": "tiny.en-ct2-int8", "latency_ms": 84.2,
        "audio_stats": {"duration_s": 0.5, "rms_dbfs": -24.0, "peak_dbfs": -6.0, "clipped_ratio": 0.0,
                        "sample_rate_hz": 16000.0},
        "vad": {"speech_ratio": 0.8, "pre_padding_ms": 300.0, "post_padding_ms": 300.0, "gain_db": 0.0,
                "split": 0.0, "start_s": 1.2},
        "sampled_because": "low_confidence", "pcm": pcm() if audio else None,
    }
    values.update(fields)
    return LogEntry(**values)


def feedback(request_id: str = "req-1", clip_index: int = 0, *, at: datetime = NOW, **fields: Any) -> LogEntry:
    """A feedback entry ("edited")."""
    values: dict[str, Any] = {"kind": "feedback", "recorded_at": at, "request_id": request_id, "clip_id": "c0",
                              "clip_index": clip_index, "consent": "audio", "subject_id": "subject-1",
                              "action": "edited", "edited_text": "turn left at the light"}
    values.update(fields)
    return LogEntry(**values)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll until `condition` holds; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.01)


def lines_of(path: Path) -> list[str]:
    """The complete lines of a file ([] when missing)."""
    if not path.exists():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.endswith("\n")]


@pytest.fixture()
def clock() -> FakeClock:
    """A clock at NOW."""
    return FakeClock()


@pytest.fixture()
def make_log(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., RequestLog]]:
    """Build started request logs on tmp_path/log (stopped at the end of the test)."""
    logs: list[RequestLog] = []

    def make(directory: Path | None = None, *, start: bool = True, registry: CollectorRegistry | None = None,
             **options: Any) -> RequestLog:
        settings: dict[str, Any] = {"dir": str(directory or tmp_path / "log"), "fsync": False, **options}
        log = RequestLog(RequestLogOptions(**settings), registry, clock=clock)
        logs.append(log)
        if start:
            log.start()
        return log

    yield make
    for log in logs:
        log.stop(timeout_s=5.0)
