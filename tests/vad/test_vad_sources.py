"""read_audio, iter_file_clips and iter_pcm_clips, on files and streams written here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.vad.signals import bursts, energy_options, segment
from vad import VadError, iter_file_clips, iter_pcm_clips, read_audio


def test_read_audio_16k_mono_wav_is_bit_exact(tmp_path: Path) -> None:
    pcm = bursts(100, [(20, 60)])
    path = tmp_path / "a.wav"
    soundfile.write(path, pcm, 16000, subtype="PCM_16")
    out = read_audio(path)
    assert out.dtype == np.int16
    assert np.array_equal(out, pcm)


def test_read_audio_downmixes_and_resamples(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, np.stack([left, np.zeros_like(left)], axis=1), 44100, subtype="PCM_16")
    out = read_audio(str(path))
    assert out.dtype == np.int16
    assert out.size == pytest.approx(16000, abs=2)
    expected = 0.25 * np.sin(2 * np.pi * 440 * np.arange(out.size) / 16000) * 32768
    assert np.abs(out[200:-200] - expected[200:-200]).max() < 60  # mean of the channels, same tone


def test_read_audio_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(VadError, match=r"nope\.wav.*no such file"):
        read_audio(path)


def test_read_audio_non_audio_file_raises_from_soundfile(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 10)
    with pytest.raises(VadError, match=r"notes\.wav") as info:
        read_audio(path)
    assert isinstance(info.value.__cause__, soundfile.SoundFileError)


def test_read_audio_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(VadError, match="is a directory"):
        read_audio(tmp_path)


def test_iter_file_clips_matches_the_segmenter(tmp_path: Path) -> None:
    pcm = bursts(1200, [(20, 60), (400, 700), (1100, 1150)])  # 36 s: several internal pushes
    path = tmp_path / "long.wav"
    soundfile.write(path, pcm, 16000, subtype="PCM_16")
    options = energy_options()
    clips = list(iter_file_clips(path, options))
    assert len(clips) == 3
    assert clips == segment(pcm, options)


def test_iter_pcm_clips_reads_a_stream_to_the_end() -> None:
    pcm = bursts(300, [(20, 60), (150, 200)])
    options = energy_options()
    clips = list(iter_pcm_clips(io.BytesIO(pcm.tobytes()), options, chunk_bytes=999))
    assert [c.index for c in clips] == [0, 1]
    assert clips == segment(pcm, options)


class _OddReads(io.RawIOBase):
    """A raw stream whose reads return odd byte counts (like a pipe can)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = min(size, 7)
        out = self._data[self._pos : self._pos + size]
        self._pos += len(out)
        return out


def test_iter_pcm_clips_carries_odd_reads_and_rejects_an_odd_total() -> None:
    pcm = bursts(200, [(20, 60)])
    clips = list(iter_pcm_clips(_OddReads(pcm.tobytes()), energy_options()))  # type: ignore[arg-type]
    assert clips == segment(pcm, energy_options())
    with pytest.raises(VadError, match="odd number of bytes"):
        list(iter_pcm_clips(io.BytesIO(pcm.tobytes() + b"\x01"), energy_options()))


def test_iter_pcm_clips_resamples_stereo_input() -> None:
    pcm = bursts(200, [(20, 60)])
    stereo = np.repeat(pcm[:, None], 2, axis=1)
    clips = list(iter_pcm_clips(io.BytesIO(stereo.tobytes()), energy_options(), channels=2))
    assert clips == segment(pcm, energy_options())
