"""The ctranslate2-whisper engine on real speech: text, silence, confidence, threads, bad options."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy.signal import lfilter

from asr_service.engines import Engine, EngineOptions, create_engine, mark_background_thread
from asr_service.engines._decoding import DecodeOptions
from asr_service.engines._model_files import ModelNotFoundError
from asr_service.engines.ctranslate2_whisper import CTranslate2WhisperEngine, _Window
from asr_service.errors import ConfigError
from tests.wer import wer

# ../shared/data/speech beside the repository: three levels above this file's package is the repo root
ESPEAK_TEXT = "Please turn on the lights in the kitchen and close the front door."
ESPEAK_MORE = (
    "I would like to book a table for two people at seven o'clock tonight.",
    "Open the window and let some fresh air into the room.",
    "The train to the city leaves from platform four every morning.",
    "She bought apples, bread and milk at the market on Saturday.",
    "Remember to water the plants before you go on holiday.",
    "The meeting has been moved to Thursday afternoon at three.",
    "Our team finished the project two weeks ahead of schedule.",
    "Turn left at the next corner and the museum is on your right.",
)


@pytest.fixture(scope="module", params=["ctranslate2", "onnxruntime"])
def engine(request: pytest.FixtureRequest) -> Iterator[CTranslate2WhisperEngine]:
    # every engine test runs with both decoders; two workers of one thread each, so the
    # thread-safety test really runs two decodes at once, and a clip alone on two threads
    loaded = CTranslate2WhisperEngine(
        EngineOptions(num_workers=2, cpu_threads=1, solo_threads=2, decoder=request.param)
    )
    yield loaded
    loaded.close()


def _espeak(text: str, folder: Path) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    wav = folder / "clip.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    audio, rate = sf.read(wav, dtype="float32")  # 22.05 kHz
    resampled: np.ndarray = soxr.resample(audio, rate, 16_000).astype(np.float32)
    return resampled


@pytest.fixture(scope="module")
def espeak_clip(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Speech synthesised on the fly, so the engine is tested without the shared data set."""
    return _espeak(ESPEAK_TEXT, tmp_path_factory.mktemp("espeak"))


@pytest.fixture(scope="module")
def short_speech(shared_speech: Path, speech_manifest: list[dict[str, Any]]) -> list[tuple[np.ndarray, str]]:
    """Twelve real clips of 8 s or less from ../shared/data/speech, spread over the set."""
    short = [row for row in speech_manifest if row["duration"] <= 8.0][::4][:12]
    return [(sf.read(shared_speech / row["audio"], dtype="float32")[0], row["text"]) for row in short]


def test_registry_builds_an_engine_that_follows_the_protocol() -> None:
    built = create_engine(EngineOptions(cpu_threads=1))
    try:
        assert isinstance(built, Engine)
        info = built.info
        assert info.engine == "ctranslate2-whisper"
        assert info.model_id == "whisper-tiny.en"
        assert info.model_version.startswith("tiny.en-ort-int8+")  # the default: the model on onnxruntime
        assert len(info.config_hash) == 8
    finally:
        built.close()


def test_loading_an_engine_keeps_numpy_blas_on_one_thread() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=2, user_api="blas")  # undo what engines loaded earlier did
    loaded = CTranslate2WhisperEngine(EngineOptions(cpu_threads=1))
    try:
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas, "numpy links no BLAS that threadpoolctl can see"
        assert [pool["num_threads"] for pool in blas] == [1] * len(blas)
    finally:
        loaded.close()


def test_espeak_speech(engine: CTranslate2WhisperEngine, espeak_clip: np.ndarray) -> None:
    result = engine.transcribe(espeak_clip)
    assert wer([ESPEAK_TEXT], [result.text]) <= 0.25, result.text
    assert 0.0 < result.confidence <= 1.0
    assert result.no_speech_prob < 0.5
    assert result.window_s == 10.0  # the fast path: a 3.6 s clip in a 10 s window
    assert not result.degenerate and not result.used_fallback
    assert result.num_tokens > 10


def test_fast_path_agrees_with_full_window(engine: CTranslate2WhisperEngine, espeak_clip: np.ndarray) -> None:
    full = CTranslate2WhisperEngine(EngineOptions(cpu_threads=1), DecodeOptions(use_fast_path=False))
    try:
        assert full.info.config_hash != engine.info.config_hash
        slow = full.transcribe(espeak_clip)
        assert slow.window_s == 30.0
        assert wer([slow.text], [engine.transcribe(espeak_clip).text]) <= 0.1
    finally:
        full.close()


@pytest.mark.parametrize("decoder", ["ctranslate2", "onnxruntime"])
def test_token_cap_is_the_number_of_tokens_decoded(espeak_clip: np.ndarray, decoder: str) -> None:
    # CTranslate2 decodes at most half its max_length: the engine must ask for twice the cap.
    # A 3.6 s clip caps at 7 tokens/s * 3.6 s + 3 = 29 tokens; the sentence needs about 17.
    tight = DecodeOptions(max_tokens_per_s=0.5, max_tokens_base=3, fallback_to_full_window=False)
    capped = CTranslate2WhisperEngine(EngineOptions(cpu_threads=1, decoder=decoder), tight)
    full = CTranslate2WhisperEngine(EngineOptions(cpu_threads=1, decoder=decoder), DecodeOptions(max_tokens_base=3))
    try:
        short = capped.transcribe(espeak_clip)
        whole = full.transcribe(espeak_clip)
    finally:
        capped.close()
        full.close()
    cap = 3 + 2  # ceil(0.5 * 3.6 s) + 3, timestamp tokens included
    assert short.degenerate  # the cap was hit, and said so
    assert 1 <= short.num_tokens <= cap - 1  # the opening timestamp is one of the capped tokens
    assert not whole.degenerate
    assert whole.num_tokens > 2 * cap  # uncapped by CTranslate2's halving of max_length
    assert wer([ESPEAK_TEXT], [whole.text]) <= 0.25, whole.text


@pytest.mark.shared_data
def test_real_speechwer(engine: CTranslate2WhisperEngine, short_speech: list[tuple[np.ndarray, str]]) -> None:
    results = [engine.transcribe(audio) for audio, _ in short_speech]
    # tiny.en with faster-whisper scores 16.5 % on the clips <= 8 s of this set
    assert wer([text for _, text in short_speech], [r.text for r in results]) <= 0.25
    assert all(0.0 <= r.confidence <= 1.0 and 0.0 <= r.no_speech_prob <= 1.0 for r in results)


@pytest.mark.parametrize("level_dbfs", [None, -60.0])
def test_silence_and_low_noise_give_no_words(engine: CTranslate2WhisperEngine, level_dbfs: float | None) -> None:
    samples = np.zeros(3 * 16_000, dtype=np.float32)
    if level_dbfs is not None:
        rng = np.random.default_rng(7)
        samples = (rng.standard_normal(samples.size) * 10 ** (level_dbfs / 20)).astype(np.float32)
    result = engine.transcribe(samples)
    assert result.text == "" or result.no_speech_prob > 0.6, result
    assert 0.0 <= result.confidence <= 1.0


def _rumble(seed: int, seconds: float = 1.3, level_dbfs: float = -35.0) -> np.ndarray:
    """Brown noise swelling and fading (traffic, a fan): what a client VAD passes as a short clip in a noisy room."""
    rng = np.random.default_rng(seed)
    n = round(seconds * 16_000)
    noise = lfilter([1.0], [1.0, -0.99], rng.standard_normal(n))
    noise *= 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * np.arange(n) / 16_000)
    return (noise / np.sqrt(np.mean(noise**2)) * 10 ** (level_dbfs / 20)).astype(np.float32)


def test_noise_alone_does_not_say_you(engine: CTranslate2WhisperEngine, tmp_path: Path) -> None:
    # tiny.en writes "you" on most such clips, sure enough of it to pass Whisper's silence rule (average
    # log-probability above -1), while its no-speech probability is 0.88-0.97.
    results = [engine.transcribe(_rumble(seed)) for seed in range(6)]
    assert [r.text for r in results] == [""] * 6, results
    assert all(r.no_speech_prob > 0.75 for r in results)
    # "you" really said stays: its no-speech probability is far lower
    said = engine.transcribe(np.concatenate([np.zeros(4800, np.float32), _espeak("You.", tmp_path),
                                             np.zeros(4800, np.float32)]))
    assert said.text.strip(".?!").lower() == "you", said


def test_empty_and_tiny_inputs(engine: CTranslate2WhisperEngine) -> None:
    assert engine.transcribe(np.zeros(0, dtype=np.float32)).text == ""
    assert engine.transcribe(np.zeros(100, dtype=np.float32)).text == ""
    with pytest.raises(ValueError, match="audio"):
        engine.transcribe(np.zeros((2, 16_000), dtype=np.float32))


def test_two_threads_give_the_sequential_texts(engine: CTranslate2WhisperEngine, espeak_clip: np.ndarray) -> None:
    clips = [espeak_clip, espeak_clip[: espeak_clip.size // 2].copy()]
    sequential = [engine.transcribe(clip).text for clip in clips]
    concurrent: dict[int, str] = {}
    barrier = threading.Barrier(len(clips))

    def work(index: int) -> None:
        barrier.wait()
        concurrent[index] = engine.transcribe(clips[index]).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clips))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [concurrent[i] for i in range(len(clips))] == sequential


class _RecordingEncoder:
    def __init__(self, inner: Any, name: str, calls: list[str]) -> None:
        self._inner, self._name, self._calls = inner, name, calls

    def encode(self, features: Any) -> Any:
        self._calls.append(self._name)
        return self._inner.encode(features)

    def close(self) -> None:
        self._inner.close()


def test_a_clip_alone_encodes_on_every_core(espeak_clip: np.ndarray) -> None:
    engine = CTranslate2WhisperEngine(EngineOptions(num_workers=2, cpu_threads=1, solo_threads=2))
    assert engine._solo_encoder is not None
    calls: list[str] = []
    engine._solo_encoder = _RecordingEncoder(engine._solo_encoder, "solo", calls)
    engine._encoder = _RecordingEncoder(engine._encoder, "workers", calls)
    alone = engine.transcribe(espeak_clip).text
    assert calls == ["solo"]
    engine._gate.enter()  # another clip in the engine
    try:
        beside_another = engine.transcribe(espeak_clip).text
    finally:
        engine._gate.leave()
    assert calls == ["solo", "workers"]
    assert beside_another == alone
    assert engine._gate.active == 0
    # background work (a session's second pass) never takes the all-cores encoder, and is not counted as a
    # clip: a clip that comes while it runs is still alone
    active: list[int] = []
    encoder = engine._encoder
    engine._encoder = type("Counting", (), {  # the clips the engine counts while the background encodes
        "encode": lambda self, features: (active.append(engine._gate.active), encoder.encode(features))[1],
        "close": lambda self: encoder.close()})()

    def background() -> None:
        mark_background_thread()
        engine.transcribe(espeak_clip)

    worker = threading.Thread(target=background)
    worker.start()
    worker.join(60)
    assert calls == ["solo", "workers", "workers"] and active == [0] and engine._gate.active == 0
    off = CTranslate2WhisperEngine(EngineOptions(num_workers=2, cpu_threads=1, solo_threads=1))
    assert off._solo_encoder is None and off.transcribe(espeak_clip).text == alone


def test_solo_encoder_gives_the_workers_texts_on_real_speech(
    engine: CTranslate2WhisperEngine, short_speech: list[tuple[np.ndarray, str]]
) -> None:
    assert engine._solo_encoder is not None  # the fixture's workers have one thread each
    workers_only = CTranslate2WhisperEngine(
        EngineOptions(num_workers=2, cpu_threads=1, solo_threads=1, decoder=engine._options.decoder)
    )
    for audio, _ in short_speech:
        assert engine.transcribe(audio).text == workers_only.transcribe(audio).text


@pytest.mark.slow
def test_clip_longer_than_one_window(
    engine: CTranslate2WhisperEngine, espeak_clip: np.ndarray, tmp_path: Path
) -> None:
    sentences = [ESPEAK_TEXT, *ESPEAK_MORE]
    gap = np.zeros(16_000, dtype=np.float32)
    long_clip = np.concatenate([part for text in sentences for part in (_espeak(text, tmp_path), gap)])
    assert long_clip.size / 16_000 > 30  # about 38 s: two windows
    result = engine.transcribe(long_clip)
    assert wer([" ".join(sentences)], [result.text]) <= 0.15, result.text
    assert result.window_s == 60.0
    assert not result.degenerate


def test_transcribe_after_close_raises(espeak_clip: np.ndarray) -> None:
    closed = CTranslate2WhisperEngine(EngineOptions(cpu_threads=1))
    closed.close()
    with pytest.raises(RuntimeError, match="close"):
        closed.transcribe(espeak_clip)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (EngineOptions(model="/no/such/model/dir"), "model: '/no/such/model/dir' is neither"),
        (EngineOptions(model="not-a-model-name"), "model: 'not-a-model-name' is neither"),
        (EngineOptions(compute_type="float16", decoder="ctranslate2"),  # a compute type this CPU lacks
         r"engine\.compute_type: 'float16' is not supported on this CPU"),
        (EngineOptions(compute_type="float32"),  # the CPU default runs the model on onnxruntime, in int8
         r"engine\.compute_type: 'float32' needs engine\.decoder = 'ctranslate2'"),
    ],
)
def test_bad_options_give_clear_errors(options: EngineOptions, message: str) -> None:
    # the engine checks what only it knows; EngineOptions checked the rest (see test_options.py)
    with pytest.raises((ValueError, ConfigError), match=message):
        CTranslate2WhisperEngine(options)


def test_directory_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"missing model\.bin"):
        CTranslate2WhisperEngine(EngineOptions(model=str(tmp_path)))


def test_context_of_a_session_is_capped_and_does_not_change_what_was_heard(
    engine: CTranslate2WhisperEngine, espeak_clip: np.ndarray
) -> None:
    before = ESPEAK_MORE[0] + " " + ESPEAK_MORE[1]
    prompted = engine.transcribe(espeak_clip, context=before)
    assert wer([ESPEAK_TEXT], [prompted.text]) <= 0.1, prompted.text
    # a whole session's worth of text: only its last tokens become the prompt, the decode still fits
    long = engine.transcribe(espeak_clip, context=" ".join(ESPEAK_MORE) * 20)
    assert wer([ESPEAK_TEXT], [long.text]) <= 0.1, long.text
    assert len(engine._context_tokens(" ".join(ESPEAK_MORE) * 20)) == DecodeOptions().max_context_tokens
    assert engine._context_tokens("   ") == []


def test_no_context_tokens_is_the_same_decode_as_no_context(espeak_clip: np.ndarray) -> None:
    off = CTranslate2WhisperEngine(EngineOptions(num_workers=1, cpu_threads=1),
                                   DecodeOptions(max_context_tokens=0))
    try:
        assert off.transcribe(espeak_clip, context=ESPEAK_MORE[0]) == off.transcribe(espeak_clip)
    finally:
        off.close()


def _window(text: str, avg_logprob: float, *, no_speech_prob: float = 0.05) -> _Window:
    tokens = list(range(100, 100 + len(text.split())))
    return _Window(tokens=tokens, text_tokens=tokens, text=text, avg_logprob=avg_logprob,
                   no_speech_prob=no_speech_prob, hit_token_cap=False, window_s=30.0)


@pytest.mark.parametrize(
    ("previous", "prompted", "unprompted", "expected", "decodes", "retry_won"),
    [
        # a prompt that left the model unsure (Whisper's avg log-prob rule): the retry without it wins
        ([1, 2], _window("thanks the the the the the", -1.72), _window("so this is the sick corpus", -0.46),
         "so this is the sick corpus", 2, True),
        # unsure with the prompt and less sure without it: the prompted text stays
        ([1, 2], _window("montreal forced aligner", -1.2), _window("mon real for a liner", -1.6),
         "montreal forced aligner", 2, False),
        # a confident prompted decode is not decoded again
        ([1, 2], _window("ask not what your country", -0.3), _window("unused", 0.0), "ask not what your country", 1,
         False),
        # no prompt: nothing to drop
        ([], _window("thanks the the the", -1.7), _window("unused", 0.0), "thanks the the the", 1, False),
    ],
)
def test_an_unsure_prompted_decode_is_retried_without_the_prompt(
    engine: CTranslate2WhisperEngine, previous: list[int], prompted: _Window, unprompted: _Window, expected: str,
    decodes: int, retry_won: bool,
) -> None:
    calls: list[list[int] | None] = []

    def decode(prompt: list[int] | None) -> _Window:
        calls.append(prompt)
        return prompted if len(calls) == 1 else unprompted

    result, won = engine._decode_prompted(decode, previous, -25.0)
    assert (result.text, len(calls), won) == (expected, decodes, retry_won)
    assert calls == [previous or None, None][:decodes]
