"""A cheap voice-pitch estimate per clip, for drift monitoring (younger or higher voices arriving).

Median fundamental frequency over the loudest 40 ms frames of a 16 kHz clip, by normalised
autocorrelation corrected for the window (Boersma 1993), searched in 60-500 Hz. About 0.5 ms for
an 8 s clip (at most `MAX_FRAMES` frames are analysed). Not a pitch tracker: octave errors happen
on single frames; the median over frames and the distribution over clips are what drift compares.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from asr_service.engines.base import SAMPLE_RATE_HZ

__all__ = ["estimate_pitch_hz"]

FRAME_SAMPLES = 640  # 40 ms: two periods of a 50 Hz voice
MAX_FRAMES = 32
MIN_PITCH_HZ = 60
MAX_PITCH_HZ = 500
VOICED_MIN = 0.45  # normalised autocorrelation peak of a voiced frame
LOUD_SHARE = 0.03  # frames within 15 dB of the loudest are analysed

_WINDOW = np.hanning(FRAME_SAMPLES).astype(np.float32)
_WINDOW_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW, 2 * FRAME_SAMPLES)) ** 2)[:FRAME_SAMPLES]
_LAG_MIN = SAMPLE_RATE_HZ // MAX_PITCH_HZ
_LAG_MAX = SAMPLE_RATE_HZ // MIN_PITCH_HZ
_WINDOW_AC_NORM = (_WINDOW_AC[_LAG_MIN:_LAG_MAX] / _WINDOW_AC[0]).astype(np.float32)


def estimate_pitch_hz(samples: npt.NDArray[np.float32]) -> float:
    """Median F0 in Hz of the voiced loud frames of 16 kHz mono audio; 0.0 when none is voiced."""
    count = samples.size // FRAME_SAMPLES
    if count == 0:
        return 0.0
    frames = samples[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
    energy = np.einsum("ij,ij->i", frames, frames)
    peak = energy.max()
    if peak <= 0:
        return 0.0
    loud = np.flatnonzero(energy >= peak * LOUD_SHARE)
    if loud.size > MAX_FRAMES:
        loud = loud[np.argsort(energy[loud])[-MAX_FRAMES:]]
    chosen = frames[loud]
    chosen = (chosen - chosen.mean(axis=1, keepdims=True)) * _WINDOW
    ac = np.fft.irfft(np.abs(np.fft.rfft(chosen, 2 * FRAME_SAMPLES, axis=1)) ** 2, axis=1)
    scores = ac[:, _LAG_MIN:_LAG_MAX] / np.maximum(ac[:, :1], 1e-12) / _WINDOW_AC_NORM
    best = scores.argmax(axis=1)
    voiced = scores[np.arange(best.size), best] > VOICED_MIN
    if not voiced.any():
        return 0.0
    return float(np.median(SAMPLE_RATE_HZ / (best[voiced] + _LAG_MIN)))
