"""The drift monitor's pitch estimate on voices of known pitch (asr_service/pitch.py)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import lfilter

from asr_service.pitch import estimate_pitch_hz

SR = 16_000
# (F1, F2, F3) of three vowels: "ah", "ee", "oo"
VOWELS = {"ah": (700, 1200, 2500), "ee": (300, 2300, 3000), "oo": (300, 870, 2240)}


def _resonate(x: npt.NDArray[np.float64], freq_hz: float, bandwidth_hz: float) -> npt.NDArray[np.float64]:
    r = np.exp(-np.pi * bandwidth_hz / SR)
    return np.asarray(lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * freq_hz / SR), r * r], x))


def vowel(f0_hz: float, formants: tuple[int, int, int], seconds: float = 1.5) -> npt.NDArray[np.float32]:
    """A sustained vowel: glottal pulses at `f0_hz` through a smoothing filter and three formants."""
    n = round(seconds * SR)
    pulses = np.zeros(n)
    pulses[np.arange(0, n, SR / f0_hz).astype(int)] = 1.0
    source = lfilter([1], [1, -1.9, 0.9025], pulses)
    out = sum(_resonate(source, f, bw) for f, bw in zip(formants, (80, 100, 150), strict=True))
    return (0.3 * out / np.max(np.abs(out))).astype(np.float32)


@pytest.mark.parametrize("vowel_name", sorted(VOWELS))
@pytest.mark.parametrize("f0_hz", [75, 110, 150, 180, 220, 260, 300, 400])
def test_a_voice_reads_at_its_pitch_not_a_sub_multiple(vowel_name: str, f0_hz: float) -> None:
    # A periodic voice correlates as well at two or three periods as at one: without the octave cost,
    # voices at 180-300 Hz (higher and younger voices, what the drift check looks for) read as a half,
    # a third or a quarter of their pitch.
    estimate = estimate_pitch_hz(vowel(f0_hz, VOWELS[vowel_name]))
    assert estimate == pytest.approx(f0_hz, rel=0.03)


def test_a_pitch_shift_moves_the_estimate_by_as_much() -> None:
    # What drift compares: the same voices, higher by a fifth, read a fifth higher.
    for f0_hz in (90, 120, 160, 200, 240):
        for formants in VOWELS.values():
            low = estimate_pitch_hz(vowel(f0_hz, formants))
            high = estimate_pitch_hz(vowel(f0_hz * 1.2, formants))
            assert high / low == pytest.approx(1.2, rel=0.03), (f0_hz, formants)


def test_the_shortest_lag_searched_is_not_a_period() -> None:
    # A smooth aperiodic signal (a rumble, like whispered or creaky frames): its autocorrelation falls
    # from lag 0, so its highest score is at the shortest lag searched, which is no peak and no period.
    # It used to read as 500 Hz, the top of the range; a candidate must now be a peak.
    rng = np.random.default_rng(0)
    rumble = lfilter([1], [1, -1.98, 0.9801], rng.standard_normal(SR)).astype(np.float32)
    rumble *= 0.3 / np.max(np.abs(rumble))
    assert estimate_pitch_hz(rumble) != 500.0
    assert estimate_pitch_hz(np.zeros(SR, dtype=np.float32)) == 0.0
    assert estimate_pitch_hz(np.zeros(100, dtype=np.float32)) == 0.0  # shorter than a frame
