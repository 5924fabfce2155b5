"""What results.json records about a run, and the "settings that differ" block of `asr eval compare`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from asr_service.cli import main
from asr_service.evaluation import (
    EvalOptions,
    compare,
    evaluate_manifest,
    host_fingerprint,
    load_results,
    settings_differences,
    write_results,
)
from asr_service.evaluation.settings import NOT_RECORDED, same_host
from asr_service.evaluation.summary import BootstrapOptions
from tests.asr_service.evaluation.manifests import PHRASES, write_manifest
from tests.fakes import ConstantEngine, fake_file_transcriber


@pytest.fixture()
def manifest(espeak_dir: Path, tmp_path: Path) -> Path:
    rows = [{"audio": str(espeak_dir / name), "text": text, "tags": ["synthetic"]} for name, text in PHRASES.items()]
    return write_manifest(tmp_path / "dev.jsonl", rows)


def _eval(manifest: Path, out: Path, *flags: str) -> dict[str, object]:
    assert main(["eval", str(manifest), "--out", str(out), "--no-progress", "--resamples", "50", *flags]) == 0
    data: dict[str, object] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return data


def test_results_record_vad_engine_normalizer_manifest_and_host(
    manifest: Path, tmp_path: Path, constant_engine: type[ConstantEngine]
) -> None:
    data = _eval(manifest, tmp_path / "run", "--pre-padding-ms", "200", "--vad-aggressiveness", "3", "--limit", "2")
    settings = data["settings"]
    assert isinstance(settings, dict)
    transcription = settings["transcription"]
    assert transcription["path"] == "vad-clips"
    assert transcription["vad"]["pre_padding_ms"] == 200 and transcription["vad"]["aggressiveness"] == 3
    assert transcription["vad"]["post_padding_ms"] == 300 and transcription["vad"]["detector"] == "webrtc"
    model = data["model"]
    assert isinstance(model, dict)
    assert model["transcriber"] == "in-process" and model["compute_type"] == "int8"
    assert model["volume_floor_dbfs"] == -60.0 and model["admission"] == "budget" and model["model"] == "tiny.en"
    assert data["options"]["budget_ms"] == 300.0  # type: ignore[index]
    assert settings["scoring"]["name"] == "whisper-digits" and settings["scoring"]["whisper_normalizer"]
    assert settings["manifest"]["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert settings["host"] == host_fingerprint() and set(settings["host"]) == {"hostname", "cpu_model", "cores"}
    assert settings["versions"]["ctranslate2"] and settings["versions"]["asr-service"]
    assert data["selection"]["limit"] == 2  # type: ignore[index]


def test_compare_prints_the_settings_that_differ_and_nothing_when_identical(
    manifest: Path, tmp_path: Path, constant_engine: type[ConstantEngine], capsys: pytest.CaptureFixture[str]
) -> None:
    _eval(manifest, tmp_path / "a")
    _eval(manifest, tmp_path / "b")
    _eval(manifest, tmp_path / "c", "--pre-padding-ms", "200", "--compute-type", "int8_float32")
    capsys.readouterr()
    main(["eval", "compare", str(tmp_path / "a" / "results.json"), str(tmp_path / "b" / "results.json")])
    assert "settings that differ" not in capsys.readouterr().out
    main(["eval", "compare", str(tmp_path / "a" / "results.json"), str(tmp_path / "c" / "results.json"),
          "--json", str(tmp_path / "c.json")])
    out = capsys.readouterr().out
    assert "settings that differ (2; baseline -> candidate):" in out
    assert "  model.compute_type: int8 -> int8_float32" in out
    assert "  transcription.vad.pre_padding_ms: 300 -> 200" in out
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert {"setting": "transcription.vad.pre_padding_ms", "baseline": 300, "candidate": 200} in data["settings_differ"]


def test_results_from_before_settings_still_load_and_read_not_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.wav").write_bytes(b"")  # the fake transcriber never opens it
    dev = write_manifest(tmp_path / "dev.jsonl", [{"audio": "a.wav", "text": "go forward ten meters", "tags": ["x"]}])
    new = evaluate_manifest(dev, fake_file_transcriber({"a.wav": "go forward 10 meters"}),
                            options=EvalOptions(bootstrap=BootstrapOptions(resamples=50)))
    path = write_results(new, tmp_path / "new" / "results.json")
    old_doc = json.loads(path.read_text(encoding="utf-8"))
    del old_doc["settings"]
    del old_doc["selection"]["limit"]
    old_path = tmp_path / "old" / "results.json"
    old_path.parent.mkdir()
    old_path.write_text(json.dumps(old_doc), encoding="utf-8")
    old = load_results(old_path)
    assert old.settings == {} and old.host is None and old.overall.wer == 0.0
    comparison = compare(old, load_results(path))
    differing = {d.setting: (d.baseline, d.candidate) for d in comparison.settings_differences}
    assert differing["host"] == (NOT_RECORDED, host_fingerprint())
    assert differing["selection.limit"] == (NOT_RECORDED, None)
    assert differing["scoring"][0] == NOT_RECORDED and differing["manifest"][0] == NOT_RECORDED
    assert "transcription" not in differing  # the fake transcriber describes nothing: null on the new side too
    assert comparison.latency.hosts == "not recorded" and comparison.passed
    assert main(["eval", "compare", str(old_path), str(path)]) == 0
    out = capsys.readouterr().out
    assert "  host: not recorded -> {" in out and "a run did not record its host" in out


def test_settings_differences_nested_missing_and_equal() -> None:
    a = {"model": {"compute_type": "int8", "beams": [1, 2]}, "vad": {"pre_padding_ms": 300}}
    b = {"model": {"compute_type": "int8", "beams": (1, 2)}, "vad": {"pre_padding_ms": 250, "frame_ms": 30}}
    assert settings_differences(a, a) == []
    diffs = [(d.setting, d.baseline, d.candidate) for d in settings_differences(a, b)]
    assert diffs == [("vad.frame_ms", NOT_RECORDED, 30), ("vad.pre_padding_ms", 300, 250)]
    only_b = settings_differences({}, {"host": {"hostname": "x"}})
    assert [(d.setting, d.baseline) for d in only_b] == [("host", NOT_RECORDED)]
    assert only_b[0].describe() == 'host: not recorded -> {"hostname": "x"}'


def test_same_host_needs_all_three_fields() -> None:
    here = host_fingerprint()
    assert same_host(here, dict(here)) is True
    assert same_host(here, {**here, "cores": here["cores"] + 1}) is False
    assert same_host(here, {**here, "cpu_model": "another"}) is False
    assert same_host(here, None) is None and same_host({"hostname": here["hostname"]}, here) is None
