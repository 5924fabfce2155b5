"""The onnxruntime model: model.bin reader, encoder graph, Whisper's timestamp rules, agreement with CTranslate2."""

from __future__ import annotations

import logging
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import pytest
import soundfile as sf
from whisper_normalizer.english import EnglishTextNormalizer

from asr_service.engines import EngineOptions
from asr_service.engines._ct2_weights import (
    ModelWeights,
    _read,
    encoder_only_model_bin,
    read_model_bin,
    write_model_bin,
)
from asr_service.engines._decoder import SpecialTokens
from asr_service.engines._decoding import DecodeOptions
from asr_service.engines._mel import LogMel
from asr_service.engines._model_files import resolve_model
from asr_service.engines._onnx_decoder import OnnxWhisperDecoder, _apply_timestamp_rules
from asr_service.engines._onnx_graph import build_encoder_graph, quantize_rows
from asr_service.engines._onnx_model import OnnxWhisperEncoder, OnnxWhisperModel, _EmbeddingRows
from asr_service.engines.ctranslate2_whisper import CTranslate2WhisperEngine
from asr_service.errors import ConfigError
from tests.paths import ESPEAK_SAMPLE
from tests.wer import wer

_normalise = EnglishTextNormalizer()
_TS = 100  # timestamp_begin in the toy vocabulary below: ids 0-98 text, 99 end-of-text, 100-109 timestamps
_EOT = 99


def _rules(tokens: list[int], *, max_initial: int = 5) -> np.ndarray:
    # text and end-of-text far likelier than any timestamp, so the probability rule stays quiet
    logits = np.full(110, -20.0, dtype=np.float32)
    logits[:_TS] = 5.0
    _apply_timestamp_rules(logits, tokens, len(tokens), eot=_EOT, timestamp_begin=_TS, max_initial_index=max_initial)
    return np.isfinite(logits)


def test_first_token_is_an_early_timestamp() -> None:
    allowed = _rules([])
    assert not allowed[:_TS].any()  # no text, no end-of-text
    assert allowed[_TS : _TS + 6].all() and not allowed[_TS + 6 :].any()


def test_timestamps_come_in_pairs_and_never_go_back() -> None:
    after_open = _rules([_TS + 2, 5, 6, _TS + 4])  # a segment just closed: no text before the next timestamp
    assert not after_open[:_EOT].any() and after_open[_EOT]
    assert not after_open[_TS : _TS + 4].any() and after_open[_TS + 4 :].all()
    after_pair = _rules([_TS + 2, 5, _TS + 4, _TS + 4])  # a pair: text or end-of-text next
    assert after_pair[:_TS].all() and not after_pair[_TS:].any()
    in_text = _rules([_TS + 2, 5, 6])
    assert in_text[:_TS].all() and not in_text[_TS : _TS + 2].any() and in_text[_TS + 2 :].all()


def test_timestamp_forced_when_timestamps_outweigh_every_other_token() -> None:
    logits = np.full(110, -10.0, dtype=np.float32)
    logits[7] = 0.0  # the best text token
    logits[_TS:] = -1.0  # ten timestamps: log(10 * e^-1) = 1.3 > 0
    _apply_timestamp_rules(logits, [_TS, 5], 2, eot=_EOT, timestamp_begin=_TS, max_initial_index=5)
    assert not np.isfinite(logits[:_TS]).any() and np.isfinite(logits[_TS:]).all()


def test_model_bin_reader_resolves_aliases_and_shapes() -> None:
    weights = read_model_bin(resolve_model("tiny.en").path / "model.bin")
    assert weights.spec == "WhisperSpec"
    embedding = weights.variables["decoder/embeddings/weight"]
    assert embedding.shape == (51_864, 384)
    assert weights.variables["decoder/projection/weight"] is embedding  # tied, stored once
    assert weights.float32("decoder/layer_0/ffn/linear_0/weight").shape == (1536, 384)


def test_model_bin_reader_refuses_bad_files(tmp_path: Path) -> None:
    data = (resolve_model("tiny.en").path / "model.bin").read_bytes()
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or not a CTranslate2 model"):
        read_model_bin(truncated)
    old = tmp_path / "old.bin"
    old.write_bytes(struct.pack("<I", 3) + data[4:])
    with pytest.raises(ValueError, match="binary version 3, expected 6"):
        read_model_bin(old)


@pytest.mark.shared_data
def test_agrees_with_ctranslate2_on_real_speech(shared_speech: Path, speech_manifest: list[dict[str, Any]]) -> None:
    rows = [row for row in speech_manifest if row["duration"] <= 8.0][::3]
    clips = [sf.read(shared_speech / row["audio"], dtype="float32")[0] for row in rows]
    texts: dict[str, list[str]] = {}
    for decoder in ("ctranslate2", "onnxruntime"):
        engine = CTranslate2WhisperEngine(EngineOptions(num_workers=1, cpu_threads=1, decoder=decoder))
        try:
            texts[decoder] = [_normalise(engine.transcribe(clip).text) for clip in clips]
            if decoder == "onnxruntime":
                assert "-ort-int8+" in engine.info.model_version
        finally:
            engine.close()
    references = [_normalise(row["text"]) for row in rows]
    same = sum(a == b for a, b in zip(texts["ctranslate2"], texts["onnxruntime"], strict=True))
    # int8 activations are rounded differently (asymmetric uint8 here, symmetric int8 in
    # CTranslate2), so a near tie can go the other way; the transcripts stay the same in substance.
    assert same >= 0.7 * len(rows), list(zip(texts["ctranslate2"], texts["onnxruntime"], strict=True))
    assert wer(texts["ctranslate2"], texts["onnxruntime"]) <= 0.05
    ours, theirs = (wer(references, texts[name]) for name in ("onnxruntime", "ctranslate2"))
    assert ours <= theirs + 0.02


def test_beam_search_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"engine\.decoder: 'onnxruntime' is greedy only; beam_size must be 1, not 5"):
        CTranslate2WhisperEngine(EngineOptions(decoder="onnxruntime"), DecodeOptions(beam_size=5))


def _quantized(embedding: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """CTranslate2's quantization (`q = round(w * scale)`): int8 per row, int16 per tensor."""
    if dtype == "int8":
        scale = (127.0 / np.abs(embedding).max(axis=1)).astype(np.float32)
        return np.rint(embedding * scale[:, np.newaxis]).astype(np.int8), scale
    scale = np.asarray(2.0**10 / np.abs(embedding).max(), dtype=np.float32)
    return np.clip(np.rint(embedding * scale), -32768, 32767).astype(np.int16), scale


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_a_model_stored_quantized_decodes_as_its_float_source(
    tmp_path: Path, dtype: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = resolve_model("tiny.en").path
    weights = read_model_bin(source / "model.bin")
    variables = {name: value for name, value in weights.variables.items() if name != "decoder/projection/weight"}
    quantized, scale = _quantized(variables["decoder/embeddings/weight"].astype(np.float32), dtype)
    variables["decoder/embeddings/weight"] = quantized
    variables["decoder/embeddings/weight_scale"] = scale
    stored = tmp_path / dtype
    stored.mkdir()
    # tied as CTranslate2 ties them: the projection an alias of the embeddings, scale included
    (stored / "model.bin").write_bytes(write_model_bin(
        ModelWeights(spec=weights.spec, revision=weights.revision, variables=variables),
        [("decoder/projection/weight", "decoder/embeddings/weight")],
    ))
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copy(source / name, stored / name)

    if dtype == "int8":  # the same int8 rows as the float source's, so the same tokens even on noise
        encoder_output = np.random.default_rng(3).standard_normal((500, 384)).astype(np.float32)
        tokens = SpecialTokens(sot_sequence=(50257,), sot_prev=50360, eot=50256, timestamp_begin=50363,
                               no_speech=50361)
        options = DecodeOptions(max_initial_timestamp_s=1.0, suppress_tokens=(-1,), suppress_blank=True)
        results = [
            OnnxWhisperDecoder(OnnxWhisperModel(folder), tokens, options).decode(
                encoder_output[np.newaxis], [50257], max_new_tokens=20, timestamps=True
            )
            for folder in (source, stored)
        ]
        assert results[0].tokens == results[1].tokens and len(results[0].tokens) > 0
        assert results[0].sum_logprob == pytest.approx(results[1].sum_logprob, abs=1e-3)

    # int16 values are a little off the float ones (one scale for the whole matrix): real speech
    caplog.set_level(logging.WARNING, logger="asr_service.engines._loading")
    audio, _ = sf.read(ESPEAK_SAMPLE, dtype="float32")
    texts = [CTranslate2WhisperEngine(EngineOptions(model=str(folder))).transcribe(audio[: 16_000 * 5]).text
             for folder in (source, stored)]
    assert texts[0] == texts[1] and "welcome" in texts[0].lower()
    assert not [r for r in caplog.records if "encoder-only" in r.getMessage()]  # the scale went with the alias


def test_write_model_bin_round_trips_every_variable() -> None:
    weights = read_model_bin(resolve_model("tiny.en").path / "model.bin")
    again = _read(write_model_bin(weights))
    assert (again.spec, again.revision) == (weights.spec, weights.revision)
    assert again.variables.keys() == weights.variables.keys()
    for name, value in weights.variables.items():
        assert again.variables[name].dtype == value.dtype and np.array_equal(again.variables[name], value), name


def test_encoder_only_model_encodes_as_the_whole_model(tmp_path: Path) -> None:
    source = resolve_model("tiny.en").path
    weights = read_model_bin(source / "model.bin")
    trimmed = _read(encoder_only_model_bin(weights))
    assert trimmed.variables["decoder/embeddings/weight"].shape == (1, 384)
    assert "decoder/layer_0/ffn/linear_0/weight" in trimmed.variables
    assert not [name for name in trimmed.variables if name.startswith("decoder/layer_1/")]
    encoder_only = tmp_path / "encoder-only"
    encoder_only.mkdir()
    (encoder_only / "model.bin").write_bytes(encoder_only_model_bin(weights))
    for name in ("config.json", "vocabulary.txt"):
        shutil.copy(source / name, encoder_only / name)
    assert (encoder_only / "model.bin").stat().st_size < (source / "model.bin").stat().st_size / 2
    features = np.random.default_rng(5).standard_normal((1, 80, 1000)).astype(np.float32)
    outputs = []
    for folder in (source, encoder_only):
        model = ctranslate2.models.Whisper(str(folder), compute_type="int8", intra_threads=1)
        outputs.append(np.asarray(model.encode(ctranslate2.StorageView.from_array(features))))
    assert np.array_equal(outputs[0], outputs[1])


def test_embedding_rows_read_from_the_file_are_the_projection_rows() -> None:
    path = resolve_model("tiny.en").path / "model.bin"
    weights = read_model_bin(path)
    embedding = weights.variables["decoder/embeddings/weight"]
    rows = _EmbeddingRows(path, weights, "decoder/embeddings/weight")
    ids = [0, 50256, 50257, 220, 51863, 220]
    quantized, dequant = quantize_rows(embedding)  # the matrix the projection multiplies by
    expected = quantized[ids].astype(np.float32) * dequant[ids, np.newaxis]
    assert np.array_equal(rows.rows(ids), expected)
    with pytest.raises(ValueError, match="token id 51864 outside the vocabulary of 51864"):
        rows.rows([51864])


def test_closing_the_engine_closes_the_model_file() -> None:
    def open_model_files() -> int:
        fds = Path("/proc/self/fd")
        return sum(1 for fd in fds.iterdir() if os.path.realpath(fd).endswith("model.bin"))

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to count open files")
    before = open_model_files()
    engine = CTranslate2WhisperEngine(EngineOptions(decoder="onnxruntime"))
    assert open_model_files() == before + 1
    engine.close()
    assert open_model_files() == before  # at once, not when the garbage collector gets to it
    with pytest.raises(RuntimeError, match="close"):
        engine.transcribe(np.zeros(16_000, dtype=np.float32))


def test_onnxruntime_loads_nothing_into_ctranslate2_and_a_solo_encoder_is_cut_to_the_encoder(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = (resolve_model("tiny.en").path / "model.bin").stat().st_size
    loaded: list[int] = []  # the size of each model.bin CTranslate2 loads
    real_whisper = ctranslate2.models.Whisper

    def spy(directory: str, **kwargs: Any) -> Any:
        loaded.append((Path(directory) / "model.bin").stat().st_size)
        return real_whisper(directory, **kwargs)

    monkeypatch.setattr(ctranslate2.models, "Whisper", spy)
    caplog.set_level(logging.WARNING, logger="asr_service.engines._loading")
    audio, _ = sf.read(ESPEAK_SAMPLE, dtype="float32")
    for decoder in ("onnxruntime", "ctranslate2"):
        loaded.clear()
        engine = CTranslate2WhisperEngine(EngineOptions(decoder=decoder, num_workers=2, cpu_threads=1,
                                                        solo_threads=2))
        try:
            if decoder == "onnxruntime":
                assert loaded == []  # encoder and decoder are ONNX graphs built from the weights
            else:  # the whole model for the workers, an encoder-only copy for a clip alone
                assert len(loaded) == 2 and loaded[0] == whole and loaded[1] < whole / 2, (loaded, whole)
            assert "welcome" in engine.transcribe(audio[: 16_000 * 5]).text.lower()
        finally:
            engine.close()
    assert not [r for r in caplog.records if "encoder-only" in r.getMessage()]  # no fallback to the whole model


@pytest.mark.parametrize("window_frames", [1000, 3000])  # the 10 s fast path, and Whisper's 30 s window
def test_the_encoder_graph_follows_ctranslate2s_encoder(window_frames: int) -> None:
    source = resolve_model("tiny.en").path
    encoder = OnnxWhisperEncoder(build_encoder_graph(read_model_bin(source / "model.bin")), threads=1)
    reference = ctranslate2.models.Whisper(str(source), compute_type="int8", intra_threads=1)
    audio, _ = sf.read(ESPEAK_SAMPLE, dtype="float32")
    features = LogMel(80)(audio[: 16_000 * 8], n_frames=window_frames)
    ours = encoder.encode(features)
    theirs = np.asarray(reference.encode(ctranslate2.StorageView.from_array(features[np.newaxis])))
    assert ours.shape == theirs.shape == (1, window_frames // 2, 384)
    # int8 activations are quantized per call here, per row in CTranslate2: close, not equal
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99
    encoder.close()
    with pytest.raises(RuntimeError, match="close"):
        encoder.encode(features)


def test_int8_products_do_not_saturate_on_cpus_without_vnni() -> None:
    """A linear layer with the int8 weights at their full range and the largest activations gives x @ W.T.

    On x86 CPUs without VNNI (AVX2), ONNX Runtime's default u8 x s8 kernel adds each pair of products
    in saturating 16 bits: here half the value was lost, and the 30 s encoder's output correlated 0.968
    with CTranslate2's instead of 0.995. The sessions' U8U8 mode keeps the products exact. Where the
    CPU has VNNI (or is not x86), the default kernel is exact too, and this passes either way.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from asr_service.engines._onnx_graph._builder import GraphBuilder
    from asr_service.engines._onnx_model import _session_options

    rows, columns = 64, 384
    weight = np.full((rows, columns), 0.5, dtype=np.float32)  # every int8 weight 127
    weight[::2] *= -1
    x = np.full((1, columns), 3.0, dtype=np.float32)  # every activation the largest: u8 255
    graph = GraphBuilder("linear")
    graph.name_output(graph.linear("x", weight, None, "linear"), "y")
    model = graph.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, columns])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, rows])])
    session = ort.InferenceSession(model, _session_options(1), providers=["CPUExecutionProvider"])
    y = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(y, x @ weight.T, rtol=1e-3)


@pytest.mark.parametrize(
    ("machine", "flags", "exact"),
    [("x86_64", "fpu sse2 avx avx2 fma", True),  # AVX2 alone: saturating u8 x s8 kernels
     ("x86_64", "avx2 avx512f avx512bw", True),  # AVX-512 without VNNI: the same
     ("x86_64", "avx2 avx512f avx512_vnni", False),  # VNNI products are exact; U8U8 was 37 % slower
     ("x86_64", "avx2 avx_vnni", False),
     ("aarch64", "fp asimd", False)],  # the option is for x86 only
)
def test_the_exact_int8_mode_only_where_the_default_kernels_saturate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, machine: str, flags: str, exact: bool
) -> None:
    from asr_service.engines import _onnx_model

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nflags\t\t: {flags}\n")
    monkeypatch.setattr(_onnx_model.platform, "machine", lambda: machine)
    assert _onnx_model.needs_exact_int8(str(cpuinfo)) is exact
    if machine == "x86_64":  # a CPU that cannot be read gets the exact kernels
        assert _onnx_model.needs_exact_int8(str(tmp_path / "missing")) is True
