"""A drift baseline's pitch values against the server's pitch estimate."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from asr_service.monitoring import Baseline, ClipFeatures
from asr_service.pitch import PITCH_METHOD


def _rows(pitches: np.ndarray) -> list[ClipFeatures]:
    return [ClipFeatures(duration_s=3.0, rms_dbfs=-25.0, pitch_hz=float(p), speech_ratio=0.7, padding_s=0.6)
            for p in pitches]


def test_a_baseline_from_an_older_pitch_estimate_leaves_pitch_out(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    built = Baseline.from_features(_rows(rng.normal(150, 30, 300)), source="dev")
    assert built.pitch_method == PITCH_METHOD
    path = tmp_path / "baseline.json"
    built.save(path)
    assert Baseline.load(path).drift_monitor().features.count("pitch_hz") == 1
    assert Baseline.load(path).problems(100) == []

    # The same file as written before the estimate was recorded: its pitch values may be sub-multiples.
    data = json.loads(path.read_text())
    del data["pitch_method"]
    path.write_text(json.dumps(data))
    old = Baseline.load(path)
    assert "pitch_hz" not in old.drift_monitor().features
    assert {"rms_dbfs", "speech_ratio"} <= set(old.drift_monitor().features)
    assert any("pitch" in problem and "asr monitor baseline" in problem for problem in old.problems(100))


def test_a_baseline_without_pitch_values_is_not_stale() -> None:
    rows = [ClipFeatures(duration_s=3.0, rms_dbfs=-25.0, pitch_hz=None, speech_ratio=0.7, padding_s=0.6)] * 200
    baseline = dataclasses.replace(Baseline.from_features(rows, source="dev"), pitch_method="")
    assert baseline.problems(100) == []
