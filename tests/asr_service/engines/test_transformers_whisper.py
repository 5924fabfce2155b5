"""The transformers-whisper engine: the default engine's rules on a transformers checkpoint."""

from __future__ import annotations

import threading
import wave
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from asr_service.engines import ENGINES, EngineOptions, create_engine
from asr_service.engines._model_files import resolve_model
from asr_service.errors import ConfigError

pytest.importorskip("transformers", reason="needs the convert extra: pip install 'asr-service[convert]'")

from asr_service.engines.transformers_whisper import TransformersWhisperEngine, choose_dtype

JFK_TEXT = "And so my fellow Americans ask not what your country can do for you ask what you can do for your country."


def jfk() -> npt.NDArray[np.float32]:
    with resources.as_file(resources.files("asr_service") / "data" / "jfk.wav") as path, wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from asr_service.models import export_hf

    return export_hf(resolve_model("tiny.en").path, tmp_path_factory.mktemp("hf") / "tiny.en-hf").path


@pytest.fixture(scope="module")
def engine(checkpoint: Path) -> TransformersWhisperEngine:
    built = create_engine(EngineOptions(engine="transformers-whisper", model=str(checkpoint), compute_type="float32"))
    assert isinstance(built, TransformersWhisperEngine)
    return built


def test_it_is_registered_under_its_name() -> None:
    assert ENGINES["transformers-whisper"] == "asr_service.engines.transformers_whisper:TransformersWhisperEngine"


def test_the_precision_is_bfloat16_only_where_the_cpu_has_it() -> None:
    assert choose_dtype("int8", bf16_supported=True) == "bfloat16"  # the server default: automatic
    assert choose_dtype("auto", bf16_supported=False) == "float32"
    assert choose_dtype("float32", bf16_supported=True) == "float32"
    assert choose_dtype("bfloat16", bf16_supported=True) == "bfloat16"
    with pytest.raises(ConfigError, match=r"engine\.compute_type: 'bfloat16' needs a CPU with AVX512-BF16 or AMX"):
        choose_dtype("bfloat16", bf16_supported=False)


def test_it_transcribes_jfk_as_the_default_engine_does(engine: TransformersWhisperEngine) -> None:
    result = engine.transcribe(jfk())
    default = create_engine(EngineOptions(model="tiny.en", num_workers=1))
    try:
        expected = default.transcribe(jfk())
    finally:
        default.close()
    assert result.text == expected.text == JFK_TEXT
    assert result.window_s == expected.window_s == 15.0  # the same fast-path window
    assert not result.used_fallback and not result.degenerate
    assert abs(result.avg_logprob - expected.avg_logprob) < 0.05
    assert engine.info.engine == "transformers-whisper" and engine.info.languages == ("en",)
    assert engine.info.model_version.startswith("tiny.en-hf-hf-fp32+")


def test_digital_silence_decodes_as_in_the_default_engine_and_a_too_short_clip_to_nothing(
        engine: TransformersWhisperEngine) -> None:
    silence = np.zeros(16_000 * 2, dtype=np.float32)
    default = create_engine(EngineOptions(model="tiny.en", num_workers=1))
    try:
        expected = default.transcribe(silence)
    finally:
        default.close()
    result = engine.transcribe(silence)
    assert (result.text, result.window_s, result.used_fallback) == (expected.text, expected.window_s,
                                                                    expected.used_fallback)
    assert engine.transcribe(np.zeros(100, dtype=np.float32)).window_s == 0.0


def test_concurrent_callers_get_the_same_text(engine: TransformersWhisperEngine) -> None:
    audio = jfk()[: 16_000 * 4]
    texts: list[str] = []
    threads = [threading.Thread(target=lambda: texts.append(engine.transcribe(audio).text)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(texts) == 3 and len(set(texts)) == 1 and texts[0]


def test_a_directory_that_is_not_a_checkpoint_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"engine\.model: .*no config\.json"):
        create_engine(EngineOptions(engine="transformers-whisper", model=str(tmp_path)))
    with pytest.raises(ConfigError, match="a CTranslate2 model directory, not a Hugging Face checkpoint"):
        create_engine(EngineOptions(engine="transformers-whisper", model=str(resolve_model("tiny.en").path)))


def test_close_then_transcribe_raises(checkpoint: Path) -> None:
    engine = create_engine(EngineOptions(engine="transformers-whisper", model=str(checkpoint)))
    engine.close()
    with pytest.raises(RuntimeError, match="after close"):
        engine.transcribe(jfk()[:16_000])
