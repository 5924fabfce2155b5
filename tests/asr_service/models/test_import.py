"""`asr models import` / `export-hf`: refusals, a random checkpoint imported and loaded, tiny.en's round trip."""

from __future__ import annotations

import json
import re
import wave
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from asr_service.cli import main
from asr_service.deployment._models import PROVENANCE_FILE
from asr_service.engines import EngineOptions, create_engine
from asr_service.engines._ct2_weights import read_model_bin
from asr_service.engines._model_files import resolve_model
from asr_service.models import CheckpointError, import_checkpoint, inspect_checkpoint


def jfk() -> npt.NDArray[np.float32]:
    with resources.as_file(resources.files("asr_service") / "data" / "jfk.wav") as path, wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def test_a_directory_that_is_not_a_whisper_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "config.json").write_bytes(b"\x00\xff not json")
    (tmp_path / "empty").mkdir()
    cases = {
        "bert": "not a Whisper model (config.json model_type is 'bert')",
        "garbage": "config.json: unreadable",
        "empty": "no config.json",
        "missing": "not a directory",
    }
    for name, expected in cases.items():
        with pytest.raises(CheckpointError, match=re.escape(expected)) as info:
            import_checkpoint(tmp_path / name, tmp_path / f"{name}-out")
        assert "\n" not in str(info.value)
        assert not (tmp_path / f"{name}-out").exists()


def test_a_whisper_checkpoint_without_tokenizer_or_with_another_head_is_refused(
        random_checkpoint: Path, tmp_path: Path) -> None:
    config = json.loads((random_checkpoint / "config.json").read_text())
    (tmp_path / "no-tokenizer").mkdir()
    (tmp_path / "no-tokenizer" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"no tokenizer\.json"):
        inspect_checkpoint(tmp_path / "no-tokenizer")
    (tmp_path / "classifier").mkdir()
    (tmp_path / "classifier" / "config.json").write_text(
        json.dumps({**config, "architectures": ["WhisperForAudioClassification"]}))
    with pytest.raises(CheckpointError, match=r"unsupported architecture WhisperForAudioClassification"):
        inspect_checkpoint(tmp_path / "classifier")


def test_the_cli_refuses_a_non_empty_output_without_force(random_checkpoint: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["models", "import", str(random_checkpoint), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "exists and is not empty (use --force" in err and err.count("\n") == 1
    assert (out / "keep.txt").read_text() == "mine"


def test_a_random_checkpoint_imports_loads_with_the_default_engine_and_records_its_provenance(
        random_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    assert main(["models", "import", str(random_checkpoint), "-o", str(out), "--quantization", "float32"]) == 0
    assert "imported" in capsys.readouterr().out
    for name in ("model.bin", "config.json", "tokenizer.json", "preprocessor_config.json", PROVENANCE_FILE):
        assert (out / name).is_file(), name
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert provenance["source"] == str(random_checkpoint.resolve())
    assert provenance["checkpoint_sha256"] == inspect_checkpoint(random_checkpoint).weights_sha256()
    assert provenance["conversion"]["quantization"] == "float32"
    assert provenance["libraries"]["transformers"] and provenance["libraries"]["ctranslate2"]
    assert provenance["created_at"].endswith("+00:00")
    assert read_model_bin(out / "model.bin").variables["encoder/conv1/weight"].shape == (64, 80, 3)
    engine = create_engine(EngineOptions(model=str(out), num_workers=1))
    try:
        result = engine.transcribe(jfk()[:16_000 * 3])  # random weights: gibberish, but the rules ran on it
        assert 0.0 <= result.confidence <= 1.0 and result.window_s in (10.0, 40.0)  # 40: 10 s, then the fallback
        assert engine.info.model_id == "whisper-model"
    finally:
        engine.close()
    # --force replaces it
    assert main(["models", "import", str(random_checkpoint), "-o", str(out), "--force"]) == 0
    assert json.loads((out / PROVENANCE_FILE).read_text())["conversion"]["quantization"] == "float16"


def test_tiny_en_round_trips_through_the_transformers_format_with_the_same_weights(tiny_en_imported: Path) -> None:
    original = read_model_bin(resolve_model("tiny.en").path / "model.bin").variables
    imported = read_model_bin(tiny_en_imported / "model.bin").variables
    for name, value in original.items():
        assert np.array_equal(value, imported[name]), name  # float16 -> float32 -> float16 is exact


def test_the_imported_tiny_en_gives_the_embedded_models_tokens(tiny_en_imported: Path) -> None:
    audio = jfk()
    clips = [audio, audio[: 16_000 * 4], audio[16_000 * 4 :]]
    engines = [create_engine(EngineOptions(model=m, num_workers=1)) for m in ("tiny.en", str(tiny_en_imported))]
    try:
        texts = [[e.transcribe(c).text for c in clips] for e in engines]
    finally:
        for e in engines:
            e.close()
    assert texts[0] == texts[1]
    assert texts[0][0] == ("And so my fellow Americans ask not what your country can do for you "
                           "ask what you can do for your country.")
