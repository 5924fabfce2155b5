"""The frame detector protocol and the registry that picks one by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from vad._options import VadOptions

__all__ = ["DETECTORS", "DetectorFactory", "FrameDetector"]


class FrameDetector(Protocol):
    """Decides, frame by frame, whether 16 kHz mono int16 audio is speech.

    ``classify`` gets a batch of consecutive frames, shape ``(n_frames, frame_samples)``, C-contiguous
    int16, and returns ``n_frames`` booleans (True = voiced). Batches arrive in stream order and a
    detector may keep state across calls (webrtcvad adapts its noise estimate), so one detector
    instance serves one stream. Batching is what keeps the segmenter fast: one call per pushed chunk,
    not one per frame.
    """

    def classify(self, frames: NDArray[np.int16]) -> NDArray[np.bool_]:
        """Return one voiced/unvoiced decision per row of ``frames``."""
        ...


DetectorFactory = Callable[["VadOptions"], FrameDetector]
"""Builds a fresh detector for one stream from the segmenter's options."""

DETECTORS: dict[str, DetectorFactory] = {}
"""Frame detectors by name; ``VadOptions.detector`` must be a key.

Registered: ``"webrtc"`` (webrtcvad, mode = ``VadOptions.aggressiveness``), ``"energy"`` (frame RMS
at or above ``VadOptions.energy_threshold_dbfs``) and ``"silero"`` (the Silero VAD v5 model on
onnxruntime, 32 ms frames, ``VadOptions.silero_threshold``; its model is installed apart).
"""
