"""Audio shifts for drift demos and tests: gain, added noise, higher pitch. 16 kHz mono int16 in and out."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

__all__ = ["add_noise", "apply_gain", "pitch_up"]

Pcm = npt.NDArray[np.int16]


def apply_gain(pcm: Pcm, gain_db: float) -> Pcm:
    """Scale by `gain_db` decibels, saturating at full scale like a real input stage."""
    if gain_db == 0:
        return pcm
    scaled = pcm.astype(np.float64) * 10.0 ** (gain_db / 20.0)
    out: Pcm = np.clip(np.round(scaled), -32768, 32767).astype(np.int16)
    return out


def add_noise(pcm: Pcm, snr_db: float, *, color: str = "white", seed: int = 0) -> Pcm:
    """Add white or pink noise `snr_db` below the signal's RMS (over the whole recording)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(pcm.size)
    if color == "pink":  # 1/f power: scale the spectrum by 1/sqrt(f)
        spectrum = np.fft.rfft(noise)
        freqs = np.arange(spectrum.size, dtype=np.float64)
        freqs[0] = 1.0
        noise = np.fft.irfft(spectrum / np.sqrt(freqs), n=pcm.size)
    elif color != "white":
        raise ValueError(f"color: {color!r} is not 'white' or 'pink'")
    signal = pcm.astype(np.float64)
    signal_rms = float(np.sqrt(np.mean(signal**2))) if pcm.size else 0.0
    noise *= signal_rms / max(float(np.sqrt(np.mean(noise**2))), 1e-12) * 10.0 ** (-snr_db / 20.0)
    out: Pcm = np.clip(np.round(signal + noise), -32768, 32767).astype(np.int16)
    return out


def pitch_up(pcm: Pcm, factor: float, sample_rate_hz: int = 16_000) -> Pcm:
    """Play the audio `factor` times faster (the tape trick): pitch up by `factor`, duration down by it."""
    if factor <= 0:
        raise ValueError(f"factor: {factor} must be > 0")
    resampled = soxr.resample(pcm.astype(np.float32), sample_rate_hz * factor, sample_rate_hz)
    out: Pcm = np.clip(np.round(resampled), -32768, 32767).astype(np.int16)
    return out
