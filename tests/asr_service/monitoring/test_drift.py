"""Drift on real speech: caught on shifted traffic within a few hundred clips, quiet on unshifted traffic."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import vad
from asr_service.monitoring import Baseline, ClipFeatures, DriftOptions
from asr_service.monitoring._drift import psi, run_tests
from bench.bench_drift import cycle, features, first_verdict, halves

pytestmark = pytest.mark.shared_data

# Many short clips. WebRTC mode 2, the VAD the detector's defaults were chosen on: with mode 1 (vad/'s default
# since 2026-12-07) white noise at 10 dB is caught in fewer runs (docs/monitoring.md, "Detection delay").
VAD = vad.VadOptions(max_clip_s=3.0, min_silence_ms=200, aggressiveness=2)


@pytest.fixture(scope="module")
def feats(shared_speech: Path) -> dict[str, dict[str, list[ClipFeatures]]]:
    """condition -> file -> clip features (audio and client VAD; no model), computed once."""
    return features(VAD, model=False)


def test_tests_on_known_samples() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(0.0, 1.0, 2000)
    same = run_tests(ref, rng.normal(0.0, 1.0, 2000), DriftOptions())
    moved = run_tests(ref, rng.normal(1.0, 1.0, 2000), DriftOptions())
    assert same["ks"] > 0.01 and same["wasserstein"] < 0.1 and same["psi"] < 0.05
    assert moved["ks"] < 1e-10 and moved["wasserstein"] == pytest.approx(1.0, abs=0.1) and moved["psi"] > 0.5
    assert psi(ref, ref) == pytest.approx(0.0)


def test_quiet_on_unshifted_traffic(feats: dict[str, dict[str, list[ClipFeatures]]]) -> None:
    opts = DriftOptions()
    for seed in range(3):
        base_half, live_half = halves(feats["none"], seed)
        baseline = Baseline.from_features(base_half, source="half")
        stream = cycle(live_half, 600, random.Random(seed))
        _, _, false_evals, evals = first_verdict(baseline, opts, stream, [], every=10)
        assert evals == 60 and false_evals == 0, seed


@pytest.mark.parametrize(
    ("condition", "expected"),
    [("gain_-30dB", {"rms_dbfs"}), ("white_noise_10dB", {"speech_ratio", "padding_s"}), ("pitch_x1.2", {"pitch_hz"}),
     ("vad_padding_0ms", {"padding_s", "speech_ratio"}), ("vad_padding_1000ms", {"padding_s", "speech_ratio"})],
)
def test_caught_on_shifted_traffic(feats: dict[str, dict[str, list[ClipFeatures]]], condition: str,
                                   expected: set[str]) -> None:
    opts = DriftOptions()
    for seed in range(3):
        rng = random.Random(seed)
        base_half, live_half = halves(feats["none"], seed)
        baseline = Baseline.from_features(base_half, source="half")
        shifted = halves(feats[condition], seed)[1]
        warm = cycle(live_half, opts.window_clips, rng)
        delay, drifted, false_evals, _ = first_verdict(baseline, opts, warm, cycle(shifted, 400, rng), every=10)
        assert false_evals == 0
        assert delay is not None and delay <= 300, (condition, seed, delay)
        assert expected & set(drifted), (condition, seed, drifted)  # the features that this shift moves
