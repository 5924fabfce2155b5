"""The answer for one clip as a client sees it, and the protocol every transcriber follows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import vad
from asr_service.audio import AudioStats
from asr_service.recognizer import Latency, NullReason, RecognitionResult, VadStats
from asr_service.revisions import Revision

__all__ = ["ClipResult", "SessionTranscriber", "Transcriber"]


@dataclass(frozen=True, kw_only=True)
class ClipResult:
    """The answer for one clip: the server's result, what the client sent with it, and the round trip.

    Its parts are the recognizer's own types, unrounded, whether the answer came over gRPC or from
    an in-process recognizer; only what prints a result rounds it.
    """

    clip_id: str
    text: str
    confidence: float
    null_reason: NullReason  # NullReason.NONE when there is text
    model_id: str
    model_version: str
    latency: Latency  # the server's breakdown, against its budget
    audio: AudioStats  # the server's measurements of the clip as received
    vad: VadStats | None  # what the client VAD reported with the clip; None when nothing was sent
    round_trip_ms: float  # measured by the client: request sent -> result received
    # the server's id of this result, for feedback (AsrClient.report_feedback) and revisions; in-process, the
    # clip's place in a `LocalTranscriber.stream` session ("0", "1", ...), else ""
    result_id: str = ""
    role: str = "primary"  # the serving model's role (primary, canary, standby)
    language: str = "en"  # the language of the text (asked for, or detected)

    @property
    def budget_exceeded(self) -> bool:
        """True when the server's total exceeded its budget."""
        return self.latency.budget_exceeded

    @classmethod
    def from_result(cls, result: RecognitionResult, *, round_trip_ms: float) -> ClipResult:
        """From the recognizer's own result (in-process)."""
        return cls(
            clip_id=result.clip_id,
            text=result.text,
            confidence=result.confidence,
            null_reason=result.null_reason,
            model_id=result.model.model_id,
            model_version=result.model.model_version,
            latency=result.latency,
            audio=result.audio,
            vad=result.vad,
            round_trip_ms=round_trip_ms,
            role=result.role,
            language=result.language,
        )


class Transcriber(Protocol):
    """Anything that turns a VAD clip into a result: a remote server or an in-process engine."""

    def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> ClipResult:
        """Transcribe one clip."""
        ...

    def close(self) -> None:
        """Release the channel or the model."""
        ...


@runtime_checkable
class SessionTranscriber(Transcriber, Protocol):
    """A transcriber that also takes clips as one session, with revisions when asked (`AsrClient` and
    `LocalTranscriber`)."""

    def stream(
        self, clips: Iterable[vad.Clip], *, on_revision: Callable[[Revision], object] | None = None,
        silence_s: Callable[[], float] | None = None,
    ) -> Iterator[ClipResult]:
        """Each clip's result, in order; `on_revision` is called with each revision (asr_service/revisions.py);
        `silence_s` (a live source's) lets the clips before a pause be revised in it."""
        ...
