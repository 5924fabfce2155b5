"""VadOptions: defaults, validation messages that name the field, immutability."""

from __future__ import annotations

import dataclasses

import pytest

from vad import VadOptions


def test_defaults_are_the_documented_ones() -> None:
    options = VadOptions()
    assert dataclasses.asdict(options) == {
        "detector": "webrtc",
        "frame_ms": 30,
        "aggressiveness": 1,
        "energy_threshold_dbfs": -40.0,
        "pre_padding_ms": 300,
        "post_padding_ms": 300,
        "min_silence_ms": 400,
        "min_speech_ms": 250,
        "max_clip_s": 20.0,
        "silero_threshold": 0.5,
        "normalize_dbfs": None,
        "max_gain_db": 30.0,
    }
    assert options.frame_samples == 480


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("detector", "rnnoise", "'energy', 'silero', 'webrtc'"),
        ("frame_ms", 32, "10, 20, 30"),
        ("silero_threshold", 0.99, "[0.2, 0.95]"),
        ("frame_ms", 25, "10, 20, 30"),
        ("frame_ms", True, "10, 20, 30"),
        ("aggressiveness", 4, "[0, 3]"),
        ("aggressiveness", 1.0, "[0, 3]"),
        ("energy_threshold_dbfs", 3.0, "[-100.0, 0.0]"),
        ("pre_padding_ms", -1, "[0, 10000]"),
        ("post_padding_ms", 10_001, "[0, 10000]"),
        ("min_silence_ms", -30, "[0, 10000]"),
        ("min_speech_ms", 60_001, "[0, 60000]"),
        ("max_clip_s", 0.5, "[0.66, 3600.0]"),
        ("max_clip_s", float("nan"), "[0.66, 3600.0]"),
        ("max_clip_s", 4000.0, "[0.66, 3600.0]"),
        ("normalize_dbfs", 6.0, "[-60.0, 0.0]"),
        ("max_gain_db", -1.0, "[0.0, 60.0]"),
    ],
)
def test_bad_field_raises_value_error_naming_it(field: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError, match=f"VadOptions.{field} ") as info:
        VadOptions(**{field: value})  # type: ignore[arg-type]
    assert allowed in str(info.value)
    assert repr(value) in str(info.value)


def test_max_clip_must_leave_room_for_padding() -> None:
    VadOptions(max_clip_s=0.66)  # 300 + 300 + 2 * 30 ms
    with pytest.raises(ValueError, match=r"max_clip_s .*\(pre_padding_ms \+ post_padding_ms"):
        VadOptions(max_clip_s=0.65)
    VadOptions(pre_padding_ms=0, post_padding_ms=0, frame_ms=10, max_clip_s=0.02)


def test_options_are_frozen_keyword_only_and_revalidated_by_replace() -> None:
    options = VadOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.frame_ms = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        VadOptions("energy")  # type: ignore[misc]
    assert dataclasses.replace(options, frame_ms=10).frame_samples == 160
    with pytest.raises(ValueError, match=r"VadOptions\.frame_ms"):
        dataclasses.replace(options, frame_ms=15)


def test_silero_takes_32_ms_frames_only() -> None:
    assert VadOptions(detector="silero", frame_ms=32).frame_samples == 512
    with pytest.raises(ValueError, match=r"frame_ms must be 32 with detector 'silero'.*got 30"):
        VadOptions(detector="silero")
