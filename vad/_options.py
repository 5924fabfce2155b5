"""Segmentation options: one frozen, keyword-only dataclass, checked in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vad.detectors import DETECTORS
from vad.detectors._silero import SILERO_FRAME_MS

__all__ = ["SAMPLE_RATE_HZ", "VadOptions"]

SAMPLE_RATE_HZ = 16000
"""Sample rate of everything the segmenter works on and outputs (16 kHz mono int16)."""

_FRAME_MS_CHOICES = (10, 20, 30)
_MAX_PADDING_MS = 10_000
_MAX_SILENCE_MS = 10_000
_MAX_SPEECH_MS = 60_000
_MAX_CLIP_S = 3600.0


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"VadOptions.{name} must be an int in [{low}, {high}]; got {value!r}")


def _check_float(name: str, value: object, low: float, high: float, why: str = "") -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and low <= value <= high)
    ):
        raise ValueError(f"VadOptions.{name} must be a finite number in [{low}, {high}]{why}; got {value!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class VadOptions:
    """How the segmenter cuts a 16 kHz stream into utterance clips.

    Change a field with ``dataclasses.replace(options, field=value)``; every instance is validated in
    ``__post_init__`` and a bad field raises ``ValueError`` naming the field and the allowed values.

    Fields (defaults in brackets):

    - ``detector`` ["webrtc"]: name of a frame detector in ``DETECTORS`` ("webrtc", "energy" or
      "silero": the Silero VAD v5 model on onnxruntime, installed by ``asr silero install``).
    - ``frame_ms`` [30]: analysis frame length, 10, 20 or 30 ms (what webrtcvad accepts); 32 ms, and
      only 32, with the "silero" detector (its 512-sample window).
    - ``aggressiveness`` [1]: webrtcvad mode 0-3; higher rejects more non-speech (and, in noise, more
      speech: mode 2 cut words and utterances there; docs/vad-path.md).
    - ``energy_threshold_dbfs`` [-40.0]: for the "energy" detector, a frame is voiced when its RMS is
      at or above this level (dBFS, full scale = 32768), in [-100, 0].
    - ``pre_padding_ms`` [300]: unvoiced audio kept before the first voiced frame, 0-10000.
    - ``post_padding_ms`` [300]: unvoiced audio kept after the last voiced frame, 0-10000.
    - ``min_silence_ms`` [400]: an utterance ends once this much unvoiced audio follows its last voiced
      frame (rounded up to whole frames), 0-10000.
    - ``min_speech_ms`` [250]: an utterance with less voiced audio (voiced frames x frame_ms) is
      dropped, 0-60000. Pieces of a split utterance are never dropped for this.
    - ``max_clip_s`` [20.0]: no clip is longer; longer speech is split into several clips, never
      dropped. Must leave room for the padding: ``max_clip_s * 1000 >= pre_padding_ms +
      post_padding_ms + 2 * frame_ms``, and at most 3600.
    - ``silero_threshold`` [0.5]: for the "silero" detector, a frame is voiced when its speech
      probability reaches this, or ``silero_threshold - 0.15`` right after a voiced frame, in [0.2, 0.95].
    - ``normalize_dbfs`` [None]: if set (-60 to 0), each clip is scaled so that the RMS of its voiced
      frames is this many dBFS, with the gain capped by ``max_gain_db`` and by the peak (no clipping).
    - ``max_gain_db`` [30.0]: largest gain normalisation may apply, 0-60 dB (attenuation is not capped).
    """

    detector: str = "webrtc"
    frame_ms: int = 30
    aggressiveness: int = 1
    energy_threshold_dbfs: float = -40.0
    pre_padding_ms: int = 300
    post_padding_ms: int = 300
    min_silence_ms: int = 400
    min_speech_ms: int = 250
    max_clip_s: float = 20.0
    silero_threshold: float = 0.5
    normalize_dbfs: float | None = None
    max_gain_db: float = 30.0

    def __post_init__(self) -> None:
        if not isinstance(self.detector, str) or self.detector not in DETECTORS:
            allowed = ", ".join(repr(name) for name in sorted(DETECTORS))
            raise ValueError(f"VadOptions.detector must be one of {allowed}; got {self.detector!r}")
        if self.detector == "silero":
            if self.frame_ms != SILERO_FRAME_MS or isinstance(self.frame_ms, bool):
                raise ValueError("VadOptions.frame_ms must be 32 with detector 'silero' (Silero decides on "
                                 f"512-sample windows); got {self.frame_ms!r}")
        elif self.frame_ms not in _FRAME_MS_CHOICES or isinstance(self.frame_ms, bool):
            raise ValueError(f"VadOptions.frame_ms must be one of 10, 20, 30; got {self.frame_ms!r}")
        _check_int("aggressiveness", self.aggressiveness, 0, 3)
        _check_float("energy_threshold_dbfs", self.energy_threshold_dbfs, -100.0, 0.0)
        _check_float("silero_threshold", self.silero_threshold, 0.2, 0.95)
        _check_int("pre_padding_ms", self.pre_padding_ms, 0, _MAX_PADDING_MS)
        _check_int("post_padding_ms", self.post_padding_ms, 0, _MAX_PADDING_MS)
        _check_int("min_silence_ms", self.min_silence_ms, 0, _MAX_SILENCE_MS)
        _check_int("min_speech_ms", self.min_speech_ms, 0, _MAX_SPEECH_MS)
        floor_s = (self.pre_padding_ms + self.post_padding_ms + 2 * self.frame_ms) / 1000.0
        why = " (the low end is (pre_padding_ms + post_padding_ms + 2 * frame_ms) / 1000)"
        _check_float("max_clip_s", self.max_clip_s, floor_s, _MAX_CLIP_S, why)
        if self.normalize_dbfs is not None:
            _check_float("normalize_dbfs", self.normalize_dbfs, -60.0, 0.0)
        _check_float("max_gain_db", self.max_gain_db, 0.0, 60.0)

    @property
    def frame_samples(self) -> int:
        """Samples per analysis frame at 16 kHz."""
        return SAMPLE_RATE_HZ * self.frame_ms // 1000
