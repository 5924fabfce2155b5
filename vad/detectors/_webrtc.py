"""The webrtcvad detector (Google's WebRTC GMM voice activity detector)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import webrtcvad
from numpy.typing import NDArray

if TYPE_CHECKING:
    from vad._options import VadOptions

__all__ = ["WebRtcDetector"]

_RATE_HZ = 16000


class WebRtcDetector:
    """``webrtcvad.Vad(aggressiveness)`` over 10, 20 or 30 ms frames at 16 kHz.

    webrtcvad smooths its decisions: it tends to stay "voiced" for a few frames after an offset (a
    hangover of roughly 50-150 ms), so speech ends measured with it sit slightly late, never early.
    """

    def __init__(self, aggressiveness: int) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    @classmethod
    def from_options(cls, options: VadOptions) -> WebRtcDetector:
        """Factory registered as ``DETECTORS["webrtc"]``."""
        return cls(options.aggressiveness)

    def classify(self, frames: NDArray[np.int16]) -> NDArray[np.bool_]:
        """One webrtcvad decision per frame, fed zero-copy slices of one memoryview."""
        n_frames, frame_samples = frames.shape
        if n_frames == 0:
            return np.zeros(0, dtype=np.bool_)
        view = np.ascontiguousarray(frames).data.cast("B")
        step = 2 * frame_samples
        is_speech = self._vad.is_speech
        decisions = [is_speech(view[pos : pos + step], _RATE_HZ) for pos in range(0, n_frames * step, step)]
        return np.array(decisions, dtype=np.bool_)
