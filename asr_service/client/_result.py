"""The answer for one clip as a client sees it, and the protocol every transcriber follows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import vad
from asr_service.recognizer import RecognitionResult

__all__ = ["ClipResult", "Transcriber"]


@dataclass(frozen=True, kw_only=True)
class ClipResult:
    """The answer for one clip, as the CLI prints it."""

    clip_id: str
    text: str
    confidence: float
    null_reason: str | None  # None when there is text; else e.g. "NO_SPEECH"
    model_id: str
    model_version: str
    latency_ms: dict[str, float] = field(default_factory=dict)  # queue_wait, inference, total, budget
    budget_exceeded: bool = False
    audio: dict[str, float] = field(default_factory=dict)  # duration_s, rms_dbfs, peak_dbfs, clipped_ratio
    round_trip_ms: float = 0.0  # measured by the client: request sent -> result received

    @classmethod
    def from_result(cls, result: RecognitionResult, round_trip_ms: float) -> ClipResult:
        """From the recognizer's own result (in-process)."""
        lat = result.latency
        return cls(
            clip_id=result.clip_id,
            text=result.text,
            confidence=round(result.confidence, 4),
            null_reason=None if result.null_reason.value == 0 else result.null_reason.name,
            model_id=result.model.model_id,
            model_version=result.model.model_version,
            latency_ms=latency_dict(lat.queue_wait_ms, lat.inference_ms, lat.server_total_ms, lat.budget_ms),
            budget_exceeded=lat.budget_exceeded,
            audio=audio_dict(result.audio.duration_s, result.audio.rms_dbfs, result.audio.peak_dbfs,
                             result.audio.clipped_ratio),
            round_trip_ms=round(round_trip_ms, 2),
        )


def latency_dict(queue: float, inference: float, total: float, budget: float) -> dict[str, float]:
    """The latency breakdown as `ClipResult.latency_ms` holds it."""
    return {"queue_wait": round(queue, 2), "inference": round(inference, 2), "total": round(total, 2),
            "budget": round(budget, 2)}


def audio_dict(duration_s: float, rms: float, peak: float, clipped: float) -> dict[str, float]:
    """The audio measurements as `ClipResult.audio` holds them."""
    return {"duration_s": round(duration_s, 3), "rms_dbfs": round(rms, 2), "peak_dbfs": round(peak, 2),
            "clipped_ratio": round(clipped, 5)}


class Transcriber(Protocol):
    """Anything that turns a VAD clip into a result: a remote server or an in-process engine."""

    def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> ClipResult:
        """Transcribe one clip."""
        ...

    def close(self) -> None:
        """Release the channel or the model."""
        ...
