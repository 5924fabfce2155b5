"""One row of the request log as the server hands it over (`LogEntry`), and the JSON line it becomes.

The server builds a `LogEntry` on the request path and only queues it; everything that costs (JSON,
redaction, the WAV) happens in the writer thread through `clip_row` / `feedback_row`. The clip row is
in the project's manifest format (asr_service/evaluation/manifest.py, labeling/_clips.py): ``audio``
relative to the manifest's folder, ``utt_id``, ``text``, ``confidence``, ``model_version``,
``recorded_at``; the rest are slice keys for ``asr eval --by``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from asr_service.request_log._redact import redact

__all__ = ["CLIENT_TAG_PREFIX", "LogEntry", "clip_row", "feedback_row"]

CLIENT_TAG_PREFIX = "client_"  # client tag "device" is also the top-level field "client_device"
_KINDS = ("clip", "feedback")
_CONSENTS = ("results", "audio")


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """A clip's result (``kind="clip"``) or a user's reaction to it (``kind="feedback"``), to be logged.

    Checked when built (ValueError names the field): a wrong entry is the caller's bug and must show
    in its tests, not vanish in the writer thread. Audio (`pcm`) is refused unless the client consented
    to audio: consent "results" stores text only, never the voice.
    """

    kind: Literal["clip", "feedback"]
    recorded_at: datetime  # timezone-aware; its UTC date picks the daily partition
    request_id: str
    clip_id: str  # may be ""
    clip_index: int  # 0-based index of the clip within its request or stream
    consent: Literal["results", "audio"]
    subject_id: str = ""  # pseudonymous id that `purge(subject=...)` deletes by; may be ""
    client_tags: Mapping[str, str] = field(default_factory=dict)
    # kind == "clip"
    text: str = ""
    confidence: float = 0.0
    null_reason: str = "NONE"
    model_id: str = ""
    model_version: str = ""
    role: str = "primary"
    audio_stats: Mapping[str, float] = field(default_factory=dict)
    vad: Mapping[str, float] | None = None
    latency_ms: float = 0.0
    sampled_because: str = ""  # "low_confidence" | "null" | "random"
    pcm: bytes | None = None  # 16-bit little-endian mono at sample_rate_hz; only with consent "audio"
    sample_rate_hz: int = 16_000
    # kind == "feedback"
    action: str = ""  # "accepted" | "edited" | "retried" | "switched_to_typing"
    edited_text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"LogEntry.kind must be one of {_KINDS}, got {self.kind!r}")
        if self.consent not in _CONSENTS:
            raise ValueError(f"LogEntry.consent must be one of {_CONSENTS}, got {self.consent!r}")
        offset = self.recorded_at.utcoffset()
        if offset is None:
            raise ValueError("LogEntry.recorded_at must be timezone-aware (UTC), got a naive datetime")
        if offset != timedelta(0):
            raise ValueError(f"LogEntry.recorded_at must be in UTC, got offset {offset}")
        if self.clip_index < 0:
            raise ValueError(f"LogEntry.clip_index must be >= 0, got {self.clip_index}")
        if self.pcm is not None:
            if self.consent != "audio":
                raise ValueError("LogEntry.pcm is only allowed with consent 'audio' (consent 'results' stores no "
                                 "voice)")
            if len(self.pcm) % 2:
                raise ValueError(f"LogEntry.pcm must be 16-bit samples (an even number of bytes), got {len(self.pcm)}")
        if not 1_000 <= self.sample_rate_hz <= 384_000:
            raise ValueError(f"LogEntry.sample_rate_hz must be in 1000..384000 Hz, got {self.sample_rate_hz}")

    @property
    def utt_id(self) -> str:
        """The row's identity in the manifest, in evaluation results and in Label Studio."""
        return f"{self.request_id}/{self.clip_index}"

    @property
    def has_audio(self) -> bool:
        """Whether a WAV file goes with the row."""
        return self.kind == "clip" and self.consent == "audio" and self.pcm is not None


def clip_row(entry: LogEntry, *, audio: str | None, redacted: bool) -> dict[str, Any]:
    """The manifest line of a clip: `audio` is the WAV's path relative to the partition folder, or None.

    There is no reference transcript yet, so ``reference`` is null and ``text`` is the model's output:
    labeling reads ``text`` as the pre-annotation, and the reference comes from the transcriptionists.
    """
    row: dict[str, Any] = {}
    if audio is not None:
        row["audio"] = audio
    row |= {
        "utt_id": entry.utt_id,
        "text": redact(entry.text) if redacted else entry.text,
        "reference": None,
        "confidence": _number(entry.confidence),
        "model_version": entry.model_version,
        "model_id": entry.model_id,
        "role": entry.role,
        "request_id": entry.request_id,
        "clip_id": entry.clip_id,
        "clip_index": entry.clip_index,
        "recorded_at": _iso(entry.recorded_at),
        "null_reason": entry.null_reason,
        "audio_stats": _numbers(entry.audio_stats),
        "vad": None if entry.vad is None else _numbers(entry.vad),
        "latency_ms": _number(entry.latency_ms),
        "consent": entry.consent,
        "subject_id": entry.subject_id,
        "sampled_because": entry.sampled_because,
        "client_tags": dict(entry.client_tags),
    }
    duration = row["audio_stats"].get("duration_s")
    if duration is not None:
        row["duration"] = duration  # the manifest's own field: `asr eval` and reports use it
    for key, value in entry.client_tags.items():
        flat = CLIENT_TAG_PREFIX + key
        if flat not in row:  # a tag may never overwrite a field ("tags" would hit "client_tags")
            row[flat] = value
    return row


def feedback_row(entry: LogEntry, *, redacted: bool) -> dict[str, Any]:
    """The feedback line: what the user did with the result of clip `utt_id`."""
    return {
        "utt_id": entry.utt_id,
        "request_id": entry.request_id,
        "clip_id": entry.clip_id,
        "clip_index": entry.clip_index,
        "action": entry.action,
        "edited_text": redact(entry.edited_text) if redacted else entry.edited_text,
        "recorded_at": _iso(entry.recorded_at),
        "subject_id": entry.subject_id,
        "consent": entry.consent,
        "client_tags": dict(entry.client_tags),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: float) -> float | None:
    """A float JSON can carry: numpy scalars become floats, NaN and infinities null (not valid JSON)."""
    number = float(value)
    return number if math.isfinite(number) else None


def _numbers(values: Mapping[str, float]) -> dict[str, float | None]:
    return {str(key): _number(value) for key, value in values.items()}
