"""A deterministic energy-threshold detector: exact in tests, a fallback where webrtcvad is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from vad._options import VadOptions

__all__ = ["EnergyDetector"]

_FULL_SCALE = 32768.0


class EnergyDetector:
    """A frame is voiced when its RMS level is at or above ``threshold_dbfs``.

    The level is ``20 * log10(rms / 32768)`` over the frame's int16 samples, so a full-scale square
    wave is 0 dBFS and a full-scale sine about -3 dBFS. The comparison is made on the mean square
    (``mean(x**2) >= (32768 * 10**(threshold_dbfs / 20))**2``) in float64: no logarithms, no state, the
    same answer for the same frame whatever came before.
    """

    def __init__(self, threshold_dbfs: float) -> None:
        self.threshold_dbfs = threshold_dbfs
        self._threshold_mean_square = (_FULL_SCALE * 10.0 ** (threshold_dbfs / 20.0)) ** 2

    @classmethod
    def from_options(cls, options: VadOptions) -> EnergyDetector:
        """Factory registered as ``DETECTORS["energy"]``."""
        return cls(options.energy_threshold_dbfs)

    def classify(self, frames: NDArray[np.int16]) -> NDArray[np.bool_]:
        """Voiced where the frame's mean square reaches the threshold."""
        samples = frames.astype(np.float64)
        mean_square = np.einsum("ij,ij->i", samples, samples) / max(frames.shape[1], 1)
        return np.asarray(mean_square >= self._threshold_mean_square, dtype=np.bool_)
