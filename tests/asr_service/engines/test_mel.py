"""The numpy log-mel matches faster-whisper's FeatureExtractor (the features the model expects)."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from asr_service.engines._mel import LogMel, mel_filters


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16_000)) / 16_000
    tone = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return (tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_filters_match_faster_whisper(n_mels: int) -> None:
    expected = FeatureExtractor.get_mel_filters(16_000, 400, n_mels=n_mels)
    np.testing.assert_allclose(mel_filters(n_mels), expected, atol=1e-6)


@pytest.mark.parametrize("seconds", [0.5, 2.8, 7.3])
def test_features_match_faster_whisper(seconds: float) -> None:
    audio = _speechlike(seconds)
    expected = FeatureExtractor(80)(audio, padding=0)
    ours = LogMel(80)(audio)
    assert ours.shape == expected.shape
    assert ours.dtype == np.float32
    assert float(np.abs(ours - expected).max()) < 1e-4


@pytest.mark.parametrize("window_frames", [300, 1000, 3000])
def test_window_padding_equals_audio_zero_padding(window_frames: int) -> None:
    audio = _speechlike(2.345, seed=1)
    padded = np.zeros(window_frames * 160, dtype=np.float32)
    padded[: audio.size] = audio
    expected = FeatureExtractor(80)(padded, padding=0)
    ours = LogMel(80)(audio, n_frames=window_frames)
    assert ours.shape == (80, window_frames)
    assert float(np.abs(ours - expected).max()) < 1e-4


def test_audio_longer_than_window_is_cut() -> None:
    audio = _speechlike(3.0)
    assert LogMel(80)(audio, n_frames=100).shape == (80, 100)
    np.testing.assert_allclose(LogMel(80)(audio, n_frames=100), LogMel(80)(audio[:16_000]), atol=1e-5)


def test_silence_is_the_floor() -> None:
    features = LogMel(80)(np.zeros(16_000, dtype=np.float32))
    np.testing.assert_allclose(features, (-10.0 + 4.0) / 4.0)


def test_bad_n_mels() -> None:
    with pytest.raises(ValueError, match="n_mels"):
        LogMel(0)
