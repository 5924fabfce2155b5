"""Drift end to end: `asr monitor baseline` on real speech, `asr replay` shifted traffic, the alarm in the server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import vad
from asr_service.cli import main
from asr_service.client import features_of_clip, manifest_clips, replay
from asr_service.monitoring import Baseline
from asr_service.server import BackgroundServer
from tests.asr_service.monitoring.probes import get_json, scrape, value
from tests.fakes import FakeEngine

pytestmark = pytest.mark.shared_data


# Many short clips, WebRTC mode 2 as in test_drift.py. With mode 1 (vad/'s default since 2026-12-07) the
# unshifted replay below (the first 100 odd clips, in manifest order: not all speakers) raised
# drift_speech_ratio (mean 0.78 against the baseline's 0.83); bench_drift's shuffled streams raise none.
VAD = vad.VadOptions(max_clip_s=3.0, min_silence_ms=200, aggressiveness=2)
VAD_FLAGS = ["--max-clip-s", "3", "--min-silence-ms", "200", "--vad-aggressiveness", "2"]


def test_quiet_on_unshifted_then_drift_alarm_on_quieter_input(
    shared_speech: Path, tmp_path: Path, monitored_server: Callable[..., BackgroundServer],
) -> None:
    # Baseline and live traffic: alternate clips of every file (the same speakers on both sides).
    clips = [clip for _, clip in manifest_clips(shared_speech / "manifest.jsonl", VAD)]
    reference, live = clips[0::2], clips[1::2]
    out = tmp_path / "baseline.json"
    Baseline.from_features([features_of_clip(c) for c in reference], source="half").save(out)
    server = monitored_server(FakeEngine(), monitoring={"baseline_path": str(out), "interval_s": 0.2, "alarm_hold_s": 0,
                                                        "drift_window_clips": 100, "drift_min_clips": 50})
    port = server.server.monitor.http_port
    assert port is not None
    summary = replay("", server.target, clips=live[:100])
    assert summary.answered == 100 and not summary.errors
    time.sleep(0.6)
    drift_alarms = [a for a in get_json(port, "/api/alarms")["alarms"] if a["alarm"].startswith("drift_")]
    assert {a["alarm"] for a in drift_alarms} == {"drift_rms_dbfs", "drift_duration_s", "drift_speech_ratio",
                                                  "drift_pitch_hz", "drift_padding_s"}  # no model in the baseline
    assert not any(a["active"] for a in drift_alarms), drift_alarms
    # The same speech 30 dB quieter, through `asr replay`: the volume drift alarm fires.
    argv = ["replay", str(shared_speech / "manifest.jsonl"), "--server", server.target, "--gain-db", "-30",
            "--max-clips", "100", "--rate", "500", *VAD_FLAGS]
    assert main(argv) == 0
    time.sleep(0.6)
    assert "drift_rms_dbfs" in get_json(port, "/api/alarms")["active"]
    s = scrape(port)
    assert value(s, "asr_alarm_active", alarm="drift_rms_dbfs") == 1
    assert value(s, "asr_drift_score", feature="rms_dbfs", test="wasserstein") > 1.0
    assert value(s, "asr_drift_score", feature="rms_dbfs", test="ks") < 1e-6
    assert value(s, "asr_transcripts_total") == 200
    drift = get_json(port, "/api/drift")
    rms = next(f for f in drift["features"] if f["feature"] == "rms_dbfs")
    assert rms["drifted"] and rms["live_mean"] < rms["baseline_mean"] - 10


def test_baseline_resolves_audio_relative_to_the_manifest(shared_speech: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    assert main(["monitor", "baseline", str(shared_speech / "manifest.jsonl"), "-o", str(out), "--no-model",
                 "--max-clip-s", "20"]) == 0
    assert Baseline.load(out).clips == 116  # 66 files -> 116 clips with the default VAD


def test_bad_baseline_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    from asr_service.errors import ConfigError

    with pytest.raises(ConfigError, match="baseline_path"):
        Baseline.load(bad)



def test_a_baseline_with_the_model_takes_its_features_from_the_served_path(shared_speech: Path,
                                                                           tmp_path: Path) -> None:
    from asr_service.client import build_baseline

    rows = (shared_speech / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    manifest = tmp_path / "dev.jsonl"  # audio paths are relative to the shared manifest: make them absolute
    manifest.write_text("".join(json.dumps({**json.loads(r), "audio": str(shared_speech / json.loads(r)["audio"])})
                                + "\n" for r in rows), encoding="utf-8")
    engine = FakeEngine(text="seven words in every single clip here", confidence=0.71)
    baseline = build_baseline(manifest, engine_factory=lambda options: engine)
    assert baseline.clips >= 3 and engine.calls == baseline.clips
    assert baseline.model_version == "fake-1" and baseline.null_rate == 0.0
    assert baseline.features["confidence"] == [pytest.approx(0.71)] * baseline.clips
    assert len(baseline.features["pitch_hz"]) >= baseline.clips - 1  # measured, as a server with a baseline does
    assert all(0.3 < v < 20 for v in baseline.features["words_per_s"])
