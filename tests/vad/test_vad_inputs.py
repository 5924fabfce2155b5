"""Bad input to the push API raises VadError with a message that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vad.signals import energy_options
from vad import Segmenter, VadError


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        (b"\x00\x01\x02", "even number of bytes; got 3"),
        (np.zeros(10, dtype=np.float64), "int16 or float32; got float64"),
        (np.zeros(10, dtype=np.int32), "int16 or float32; got int32"),
        (np.zeros((10, 2), dtype=np.int16), r"shape \(n,\) or \(n, 1\)"),
        (np.array([0.0, np.nan], dtype=np.float32), "NaN or infinity"),
        ([0, 1, 2], "bytes .* or a numpy array; got list"),
    ],
)
def test_bad_chunks_raise_vad_error(chunk: object, message: str) -> None:
    segmenter = Segmenter(energy_options())
    with pytest.raises(VadError, match=message):
        segmenter.push(chunk)  # type: ignore[arg-type]


def test_vad_error_is_a_value_error() -> None:
    assert issubclass(VadError, ValueError)


def test_stereo_array_needs_two_columns() -> None:
    segmenter = Segmenter(energy_options(), input_channels=2)
    with pytest.raises(VadError, match=r"shape \(n, 2\)"):
        segmenter.push(np.zeros(10, dtype=np.int16))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_sample_rate_hz": 4000}, r"input_sample_rate_hz must be in \[8000, 192000\]; got 4000"),
        ({"input_sample_rate_hz": 44100.0}, "input_sample_rate_hz must be an int"),
        ({"input_channels": 0}, "input_channels must be an int in"),
    ],
)
def test_unsupported_stream_formats_raise_vad_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(VadError, match=message):
        Segmenter(energy_options(), **kwargs)  # type: ignore[arg-type]


def test_push_after_flush_raises_and_second_flush_is_empty() -> None:
    segmenter = Segmenter(energy_options())
    segmenter.push(np.zeros(1000, dtype=np.int16))
    assert segmenter.flush() == []
    assert segmenter.flush() == []
    with pytest.raises(VadError, match="after flush"):
        segmenter.push(b"\x00\x00")


def test_stream_ending_inside_a_stereo_sample_frame_raises() -> None:
    segmenter = Segmenter(energy_options(), input_channels=2)
    segmenter.push(b"\x00\x00\x00\x00\x00\x00")
    with pytest.raises(VadError, match="inside a sample frame"):
        segmenter.flush()


def test_position_counts_16k_samples() -> None:
    segmenter = Segmenter(energy_options(), input_sample_rate_hz=48000)
    segmenter.push(np.zeros(48000, dtype=np.int16))
    segmenter.flush()
    assert segmenter.position_s == pytest.approx(1.0, abs=1e-3)
