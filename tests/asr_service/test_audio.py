from __future__ import annotations

import numpy as np
import pytest

from asr_service.audio import SILENCE_DBFS, AudioFormat, ClipLimits, decode_clip, measure
from asr_service.errors import ClipTooLongError, InvalidAudioError

LIMITS = ClipLimits(accepted_rates_hz=(8_000, 16_000, 48_000), max_channels=2, max_clip_s=2.0)


def test_measure_full_scale_square_wave() -> None:
    pcm = np.array([32767, -32768] * 800, dtype=np.int16)
    stats = measure(pcm, 16_000)
    assert stats.duration_s == pytest.approx(0.1)
    assert stats.rms_dbfs == pytest.approx(0.0, abs=0.01)
    assert stats.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert stats.clipped_ratio == 1.0


def test_measure_half_scale_sine_and_silence() -> None:
    t = np.arange(16_000) / 16_000
    pcm = (0.5 * 32768 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    stats = measure(pcm, 16_000)
    assert stats.rms_dbfs == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)  # -9.03 dBFS
    assert stats.peak_dbfs == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert stats.clipped_ratio == 0.0
    silent = measure(np.zeros(160, dtype=np.int16), 16_000)
    assert silent.rms_dbfs == SILENCE_DBFS and silent.peak_dbfs == SILENCE_DBFS


def test_decode_resamples_and_downmixes() -> None:
    stereo = np.zeros((48_000, 2), dtype=np.int16)
    stereo[:, 0] = 1000
    stereo[:, 1] = 3000
    clip = decode_clip(stereo.tobytes(), AudioFormat(sample_rate_hz=48_000, channels=2), LIMITS)
    assert clip.samples.dtype == np.float32
    assert clip.samples.size == 16_000
    assert np.median(clip.samples) == pytest.approx(2000 / 32768, rel=1e-3)
    assert clip.stats.sample_rate_hz == 48_000 and clip.stats.duration_s == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("data", "fmt", "error", "message"),
    [
        (b"", AudioFormat(sample_rate_hz=16_000), InvalidAudioError, "audio: empty"),
        (b"\x00" * 3, AudioFormat(sample_rate_hz=16_000), InvalidAudioError, "3 bytes is not a whole number"),
        (b"\x00" * 6, AudioFormat(sample_rate_hz=16_000, channels=2), InvalidAudioError, "4 bytes per frame"),
        (b"\x00" * 4, AudioFormat(sample_rate_hz=0), InvalidAudioError, "sample_rate_hz: not set"),
        (b"\x00" * 4, AudioFormat(sample_rate_hz=44_100), InvalidAudioError, "44100 Hz is not supported"),
        (b"\x00" * 4, AudioFormat(sample_rate_hz=16_000, channels=3), InvalidAudioError, "channels: 3"),
        (b"\x00" * 2 * 16_001 * 2, AudioFormat(sample_rate_hz=16_000), ClipTooLongError, "at most 2 s"),
    ],
)
def test_decode_rejects_bad_input(data: bytes, fmt: AudioFormat, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decode_clip(data, fmt, LIMITS)


def test_empty_allowed_for_streams() -> None:
    clip = decode_clip(b"", AudioFormat(sample_rate_hz=16_000), LIMITS, allow_empty=True)
    assert clip.samples.size == 0 and clip.stats.duration_s == 0.0


def test_pitch_is_estimated_only_when_asked() -> None:
    t = np.arange(16_000) / 16_000
    voice = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 6))  # 200 Hz with harmonics
    pcm = (6000 * voice).astype("<i2").tobytes()
    fmt = AudioFormat(sample_rate_hz=16_000)
    assert decode_clip(pcm, fmt, LIMITS).stats.pitch_hz is None
    # A perfectly periodic tone can land on a sub-multiple (the estimate is not a pitch tracker); a
    # voiced clip gets a pitch in the search range.
    assert 60 <= decode_clip(pcm, fmt, LIMITS, pitch=True).stats.pitch_hz <= 500
    # Asked, but nothing voiced: None, as when not asked (never a 0 Hz pitch that drift would average).
    assert decode_clip(bytes(32_000), fmt, LIMITS, pitch=True).stats.pitch_hz is None
