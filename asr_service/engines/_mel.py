"""Whisper's log-mel spectrogram in numpy, without torch or librosa.

Same recipe as openai/whisper `audio.py` and faster-whisper's `FeatureExtractor`: a periodic Hann
window of 400 samples, hop 160 (10 ms), centred frames with reflect padding, the last frame dropped,
power spectrum through Slaney-normalised mel filters, log10 clamped at 1e-10 and at (max - 8), then
scaled with (x + 4) / 4. `tests/asr_service/engines/test_mel.py` checks it against faster-whisper.

The filters and the window are built once per `LogMel` (a few hundred kB) and the frames are a
strided view of the padded audio, so a call is one batched rfft plus one matrix product over the
frames that touch audio (about 1 ms for a 3 s clip in a 10 s window).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from asr_service.engines.base import SAMPLE_RATE_HZ

__all__ = ["HOP_LENGTH_SAMPLES", "N_FFT_SAMPLES", "LogMel", "mel_filters"]

N_FFT_SAMPLES = 400  # 25 ms analysis window
HOP_LENGTH_SAMPLES = 160  # 10 ms between frames: 100 frames per second
_LOG_FLOOR = 1e-10  # power floor before log10
_DYNAMIC_RANGE_LOG10 = 8.0  # keep 80 dB below the loudest bin


def mel_filters(n_mels: int, *, sample_rate_hz: int = SAMPLE_RATE_HZ, n_fft: int = N_FFT_SAMPLES) -> npt.NDArray[
    np.float32
]:
    """Slaney-style mel filter bank, shape [n_mels, n_fft // 2 + 1] (librosa's `htk=False, norm='slaney'`)."""
    fft_freqs_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate_hz)
    # Slaney's scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
    f_sp_hz = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp_hz
    log_step = np.log(6.4) / 27.0
    max_mel = min_log_mel + np.log(sample_rate_hz / 2 / min_log_hz) / log_step
    mels = np.linspace(0.0, max_mel, n_mels + 2)
    freqs_hz = f_sp_hz * mels
    log_region = mels >= min_log_mel
    freqs_hz[log_region] = min_log_hz * np.exp(log_step * (mels[log_region] - min_log_mel))

    fdiff = np.diff(freqs_hz)
    ramps = freqs_hz[:, None] - fft_freqs_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Slaney normalisation: roughly constant energy per channel.
    weights *= (2.0 / (freqs_hz[2 : n_mels + 2] - freqs_hz[:n_mels]))[:, None]
    filters: npt.NDArray[np.float32] = weights.astype(np.float32)
    return filters


class LogMel:
    """Computes Whisper log-mel features for `n_mels` bins (80 for tiny.en, 128 for large-v3)."""

    def __init__(self, n_mels: int) -> None:
        if n_mels <= 0:
            raise ValueError(f"n_mels: must be positive, got {n_mels}")
        self.n_mels = n_mels
        self._filters = mel_filters(n_mels)
        # Periodic Hann window, as torch.hann_window(400) / np.hanning(401)[:-1].
        self._window = np.hanning(N_FFT_SAMPLES + 1)[:-1].astype(np.float32)

    def __call__(self, audio: npt.NDArray[np.float32], *, n_frames: int | None = None) -> npt.NDArray[np.float32]:
        """Features of `audio` zero-padded (or cut) to `n_frames` frames: shape [n_mels, n_frames].

        `n_frames` defaults to len(audio) // 160. Padding in the audio domain, rather than padding
        features, gives the padded frames the clamped floor (max - 8) that Whisper saw in training.
        Frames that see only padding are that floor, so only frames touching the audio go through
        the FFT: a 3 s clip in a 10 s window transforms 320 frames instead of 1000.
        """
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if n_frames is None:
            n_frames = audio.shape[0] // HOP_LENGTH_SAMPLES
        half = N_FFT_SAMPLES // 2
        total = n_frames * HOP_LENGTH_SAMPLES
        signal = np.zeros(total + 2 * half, dtype=np.float32)  # centred, reflect-padded signal
        n_audio = min(audio.shape[0], total)
        signal[half : half + n_audio] = audio[:n_audio]
        # reflect padding (numpy's "reflect": the edge sample is not repeated)
        signal[:half] = signal[2 * half : half : -1]
        signal[half + total :] = signal[half + total - 2 : total - 2 : -1]
        # frame i spans samples [160 i - 200, 160 i + 200): later frames see only zeros (unless the
        # audio reaches the window's end, where the right reflect padding mirrors it)
        touched = -(-(n_audio + half) // HOP_LENGTH_SAMPLES)
        n_live = n_frames if n_audio + half >= total else min(n_frames, touched)
        frames = np.lib.stride_tricks.as_strided(
            signal,
            shape=(n_live, N_FFT_SAMPLES),
            strides=(HOP_LENGTH_SAMPLES * signal.strides[0], signal.strides[0]),
            writeable=False,
        )
        spectrum = np.fft.rfft(frames * self._window, axis=-1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32, copy=False)
        log_live = np.log10(np.maximum(self._filters @ power.T, _LOG_FLOOR))
        floor = np.float32(np.log10(_LOG_FLOOR))
        if log_live.size:
            floor = max(floor, np.float32(log_live.max() - _DYNAMIC_RANGE_LOG10))
        log_spec = np.full((self.n_mels, n_frames), floor, dtype=np.float32)
        log_spec[:, :n_live] = np.maximum(log_live, floor)
        log_spec += 4.0
        log_spec /= 4.0
        return log_spec
