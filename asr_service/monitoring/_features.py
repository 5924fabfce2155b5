"""The per-clip features that drift detection compares: the same extraction live and in the baseline.

Audio and client-VAD features are known for every clip; model features (confidence, words per
second) only for clips with text, and `is_null` only when the model (or the recognizer's skip
rules) ran. A feature that is None is simply not added to its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from asr_service.audio import AudioStats
from asr_service.recognizer import NullReason, VadStats

__all__ = ["NUMERIC_FEATURES", "Answer", "ClipFeatures", "audio_features", "features_of_result"]

NUMERIC_FEATURES = ("duration_s", "rms_dbfs", "pitch_hz", "speech_ratio", "padding_s", "confidence", "words_per_s")


@dataclass(frozen=True, kw_only=True, slots=True)
class ClipFeatures:
    """What drift detection looks at in one clip."""

    duration_s: float
    rms_dbfs: float | None  # None for empty audio
    pitch_hz: float | None  # None when no frame is voiced
    speech_ratio: float | None  # client VAD; None when the client sent no VAD stats
    padding_s: float | None  # client VAD: pre + post padding kept
    confidence: float | None = None  # results with text only
    words_per_s: float | None = None  # results with text only
    is_null: bool | None = None  # None when no model ran

    def numeric(self) -> dict[str, float | None]:
        """The numeric features by name."""
        return {name: getattr(self, name) for name in NUMERIC_FEATURES}

    def to_json(self) -> dict[str, float | bool | None]:
        """As stored in a baseline file."""
        return {**self.numeric(), "is_null": self.is_null}


class Answer(Protocol):
    """What the features read of an answer: the server's `RecognitionResult` or a client's `ClipResult`."""

    @property
    def text(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def null_reason(self) -> NullReason: ...
    @property
    def audio(self) -> AudioStats: ...
    @property
    def vad(self) -> VadStats | None: ...


def audio_features(
    audio: AudioStats, vad_stats: VadStats | None, *, confidence: float | None = None,
    words_per_s: float | None = None, is_null: bool | None = None,
) -> ClipFeatures:
    """Features of a measured clip, by the rules both paths share, and the model's (unset when no model ran)."""
    return ClipFeatures(
        duration_s=audio.duration_s,
        rms_dbfs=audio.rms_dbfs if audio.duration_s > 0 else None,
        pitch_hz=audio.pitch_hz,
        speech_ratio=vad_stats.speech_ratio if vad_stats else None,
        padding_s=(vad_stats.pre_padding_ms + vad_stats.post_padding_ms) / 1000.0 if vad_stats else None,
        confidence=confidence,
        words_per_s=words_per_s,
        is_null=is_null,
    )


def features_of_result(result: Answer) -> ClipFeatures:
    """Features of a transcribed clip: what the live monitor sees, and the baseline's model features."""
    audio = result.audio
    has_text = result.null_reason is NullReason.NONE
    return audio_features(
        audio,
        result.vad,
        confidence=result.confidence if has_text else None,
        words_per_s=len(result.text.split()) / audio.duration_s if has_text and audio.duration_s > 0 else None,
        is_null=not has_text,
    )
