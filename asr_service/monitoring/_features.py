"""The per-clip features that drift detection compares: the same extraction live and in the baseline.

Audio and client-VAD features are known for every clip; model features (confidence, words per
second) only for clips with text, and `is_null` only when the model (or the recognizer's skip
rules) ran. A feature that is None is simply not added to its window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import vad
from asr_service.audio import measure
from asr_service.monitoring._metrics import vad_stats_missing
from asr_service.pitch import estimate_pitch_hz
from asr_service.recognizer import NullReason, RecognitionResult

__all__ = ["MODEL_FEATURES", "NUMERIC_FEATURES", "ClipFeatures", "features_of_clip", "features_of_result"]

NUMERIC_FEATURES = ("duration_s", "rms_dbfs", "pitch_hz", "speech_ratio", "padding_s", "confidence", "words_per_s")
MODEL_FEATURES = ("confidence", "words_per_s", "null_rate")


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


def features_of_result(result: RecognitionResult) -> ClipFeatures:
    """Features of a served result (what the live monitor sees)."""
    audio = result.audio
    has_vad = not vad_stats_missing(result)
    has_text = result.null_reason is NullReason.NONE
    return ClipFeatures(
        duration_s=audio.duration_s,
        rms_dbfs=audio.rms_dbfs if audio.duration_s > 0 else None,
        pitch_hz=audio.pitch_hz or None,
        speech_ratio=result.vad.speech_ratio if has_vad else None,
        padding_s=(result.vad.pre_padding_ms + result.vad.post_padding_ms) / 1000.0 if has_vad else None,
        confidence=result.confidence if has_text else None,
        words_per_s=len(result.text.split()) / audio.duration_s if has_text and audio.duration_s > 0 else None,
        is_null=not has_text,
    )


def features_of_clip(clip: vad.Clip) -> ClipFeatures:
    """Audio and VAD features of a client clip, without a model (what the server would measure)."""
    stats = measure(clip.pcm, vad.SAMPLE_RATE_HZ)
    return ClipFeatures(
        duration_s=stats.duration_s,
        rms_dbfs=stats.rms_dbfs if stats.duration_s > 0 else None,
        pitch_hz=estimate_pitch_hz(clip.pcm.astype(np.float32) / 32768.0) or None,
        speech_ratio=clip.stats.speech_ratio,
        # The server receives whole milliseconds (asr.v1.VadStats), so round the same way.
        padding_s=(int(clip.stats.pre_padding_ms) + int(clip.stats.post_padding_ms)) / 1000.0,
    )
