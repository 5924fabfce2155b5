"""`asr models check` on a small manifest, and an imported model in the deployment with its provenance."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from asr_service.cli import main
from asr_service.config import ServerConfig
from asr_service.deployment import Deployment, ModelSpec
from asr_service.engines import EngineOptions, create_engine
from asr_service.models._check import token_edit_distance

JFK = Path(__file__).resolve().parents[3] / "asr_service" / "data" / "jfk.wav"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def small_manifest(folder: Path) -> Path:
    """Three clips of the shipped JFK recording: whole, and two segments."""
    shutil.copyfile(JFK, folder / "jfk.wav")
    rows = [{"audio": "jfk.wav", "text": JFK_TEXT},
            {"audio": "jfk.wav", "text": "And so my fellow Americans", "end_s": 3.5, "utt_id": "start"},
            {"audio": "jfk.wav", "text": "ask what you can do for your country", "start_s": 7.5, "utt_id": "end"}]
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_token_edit_distance() -> None:
    assert token_edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert token_edit_distance([1, 2, 3], [1, 3]) == 1
    assert token_edit_distance([], [4, 5]) == 2
    assert token_edit_distance([1, 2, 3, 4], [2, 1, 3, 5]) == 3


@pytest.mark.slow
def test_check_agrees_on_the_round_trip_and_prints_json(
        tiny_en_imported: Path, tiny_en_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = small_manifest(tmp_path)
    code = main(["models", "check", str(tiny_en_imported), "--against", str(tiny_en_checkpoint), str(manifest),
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["clips"] == 3 and report["token_agreement"] == 1.0 and report["token_edit_agreement"] == 1.0
    assert report["passed"] and not report["differing"]
    model, checkpoint = report["engines"]
    assert model["model_version"].startswith("tiny.en-imported-ct2-float32")
    assert checkpoint["model_version"].startswith("tiny.en-hf-hf-fp32")
    assert model["wer"] == checkpoint["wer"] and model["wer"] < 10.0
    assert checkpoint["latency_ms"]["p50"] > 0


def test_check_fails_below_the_agreement_wanted(tiny_en_imported: Path, random_checkpoint: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    manifest = small_manifest(tmp_path)
    assert main(["models", "check", str(tiny_en_imported), "--against", str(random_checkpoint), str(manifest),
                 "--min-agreement", "1.01"]) == 1
    assert "models check: --min-agreement must be in [0, 1]" in capsys.readouterr().err
    # tiny.en against a random model that shares its tokenizer: not its checkpoint
    assert main(["models", "check", str(tiny_en_imported), "--against", str(random_checkpoint), str(manifest),
                 "--limit", "1", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: agreement 0.0000 vs --min-agreement 0.98" in out and "1 clips: identical tokens on 0.0 %" in out


@pytest.mark.slow
def test_the_deployment_loads_an_imported_model_and_shows_its_provenance(tiny_en_imported: Path) -> None:
    async def scenario() -> dict[str, object]:
        config = ServerConfig(engine=EngineOptions(num_workers=1, cpu_threads=1))
        deployment = Deployment(config, engine_factory=create_engine, seed=1)
        try:
            await deployment.restore(ModelSpec(source=str(tiny_en_imported)))
            return deployment.status()
        finally:
            deployment.drain()
            await deployment.close()

    status = asyncio.run(scenario())
    models = json.loads(json.dumps(status, default=str))["models"]
    served = models[0] if isinstance(models, list) else next(iter(models.values()))
    assert served["provenance"]["kind"] == "imported"
    assert served["provenance"]["conversion"]["quantization"] == "float16"
    assert served["engine"] == "ctranslate2-whisper"
