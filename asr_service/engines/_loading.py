"""Loading the CTranslate2 Whisper engine: its options checked, the models loaded, the decoder bound.

From the model directory (`_model_files`) and its weights (`_ct2_weights`), one of two models:
- on onnxruntime (the CPU default), the whole network built as ONNX graphs from the weights: the
  workers' encoder, an encoder on every core for a clip alone, and the decoder's network;
- on CTranslate2, the workers' model, and an encoder-only copy on every core for a clip alone.
Then the tokenizer and its special tokens, the encoder and decoder behind the `Encoder` and
`Decoder` protocols, and the `EngineInfo` that names it all.

Loading an engine limits numpy's BLAS to one thread in the process (see `_limit_numpy_blas_threads`).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ctranslate2
from tokenizers import Tokenizer

from asr_service._malloc import release_free_memory
from asr_service.engines._ct2_decoder import CTranslate2Decoder, CTranslate2Encoder
from asr_service.engines._ct2_weights import ModelWeights, encoder_only_model_bin, read_model_bin
from asr_service.engines._decoder import Decoder, Encoder, LanguageDetector, SpecialTokens
from asr_service.engines._decoding import DecodeOptions
from asr_service.engines._model_files import ModelFiles, resolve_model
from asr_service.engines._onnx_decoder import OnnxWhisperDecoder
from asr_service.engines._onnx_graph import build_encoder_graph
from asr_service.engines._onnx_model import OnnxWhisperEncoder, OnnxWhisperModel
from asr_service.engines.base import EngineInfo, EngineOptions
from asr_service.errors import ConfigError

__all__ = ["ENGINE_NAME", "LoadedModel", "load_model"]

logger = logging.getLogger(__name__)

ENGINE_NAME = "ctranslate2-whisper"
_MULTILINGUAL_VOCAB = 51_865
# the onnxruntime model is int8 (weights per row, activations per call): the compute types that say so
_ONNXRUNTIME_COMPUTE_TYPES = ("int8", "int8_float32", "default", "auto")


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """What the engine runs on, read-only once loaded."""

    files: ModelFiles
    encoder: Encoder  # the workers' encoder: `threads_per_worker` threads each
    solo_encoder: Encoder | None  # an encoder on `threads_when_alone` threads for a clip alone, if more
    onnx_model: OnnxWhisperModel | None  # the onnxruntime decoder's network, to close with the engine
    decoder: Decoder
    detector: LanguageDetector | None  # the decoder's language detection, for a multilingual model
    tokenizer: Tokenizer
    tokens: SpecialTokens
    n_mels: int
    info: EngineInfo


def load_model(options: EngineOptions, decode: DecodeOptions) -> LoadedModel:
    """Load the model that `options` names, to decode with `decode` (ConfigError for options it cannot run with)."""
    _check_options(options, decode)
    files = resolve_model(options.model)
    path = files.path
    solo_threads = options.threads_when_alone
    onnx_model: OnnxWhisperModel | None = None
    ct2_model: Any = None  # the CTranslate2 decoder's model
    if options.decoder == "onnxruntime":
        try:
            weights = read_model_bin(path / "model.bin")
            onnx_model = OnnxWhisperModel(path, threads=solo_threads, weights=weights)
            graph = build_encoder_graph(weights)
            n_mels = int(weights.variables["encoder/conv1/weight"].shape[1])
            # CTranslate2's rule (and Whisper's): the multilingual vocabularies have 51,865 tokens or more
            multilingual = int(weights.variables["decoder/embeddings/weight"].shape[0]) >= _MULTILINGUAL_VOCAB
        except (ValueError, KeyError) as exc:
            raise ValueError(f"decoder: cannot run {str(path)!r} on onnxruntime: {exc}") from exc
        del weights
        encoder: Encoder = OnnxWhisperEncoder(graph, threads=options.threads_per_worker)
        solo: Encoder | None = (OnnxWhisperEncoder(graph, threads=solo_threads)
                                if solo_threads > options.threads_per_worker else None)
        del graph
    else:
        weights_for_solo = read_model_bin(path / "model.bin") if solo_threads > options.threads_per_worker else None
        ct2_model, solo_model = _load_ctranslate2(path, options, weights_for_solo, solo_threads=solo_threads)
        del weights_for_solo
        encoder = CTranslate2Encoder(ct2_model)
        solo = CTranslate2Encoder(solo_model) if solo_model is not None else None
        n_mels, multilingual = int(ct2_model.n_mels), bool(ct2_model.is_multilingual)
    release_free_memory()
    _limit_numpy_blas_threads()
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokens = special_tokens(tokenizer, multilingual=multilingual, path=path)
    decoder: OnnxWhisperDecoder | CTranslate2Decoder = (
        OnnxWhisperDecoder(onnx_model, tokens, decode) if onnx_model is not None
        else CTranslate2Decoder(ct2_model, decode))
    info = _model_info(files, options, decode, languages=tokens.languages)
    logger.info(
        "loaded %s (%s) from %s: %d worker(s) x %d thread(s), %d for a clip alone",
        info.model_id, info.model_version, path, options.num_workers, options.threads_per_worker,
        solo_threads if solo is not None else options.threads_per_worker,
    )
    return LoadedModel(files=files, encoder=encoder, solo_encoder=solo, onnx_model=onnx_model,
                       decoder=decoder, detector=decoder if tokens.language_tokens else None,
                       tokenizer=tokenizer, tokens=tokens, n_mels=n_mels, info=info)


def _check_options(options: EngineOptions, decode: DecodeOptions) -> None:
    """What only the loaded library knows: its compute types, and beam search (`EngineOptions` checked the rest)."""
    if options.device == "cpu":
        supported = sorted(ctranslate2.get_supported_compute_types("cpu"))
        if options.compute_type not in (*supported, "default", "auto"):
            raise ConfigError(
                f"engine.compute_type: {options.compute_type!r} is not supported on this CPU "
                f"(supported: {', '.join(supported)})"
            )
    if options.decoder == "onnxruntime" and options.compute_type not in _ONNXRUNTIME_COMPUTE_TYPES:
        raise ConfigError(
            f"engine.compute_type: {options.compute_type!r} needs engine.decoder = 'ctranslate2'; the "
            f"onnxruntime model runs int8 ({', '.join(map(repr, _ONNXRUNTIME_COMPUTE_TYPES))})")
    if options.decoder == "onnxruntime" and decode.beam_size != 1:
        raise ConfigError(
            f"engine.decoder: 'onnxruntime' is greedy only; beam_size must be 1, not {decode.beam_size}")


def _limit_numpy_blas_threads() -> None:
    """numpy's BLAS (the mel filterbank product) on one thread, for the whole process.

    The engine's own pools already take every core. OpenBLAS sizes a third pool to the cores, and
    its threads spin for a while after each product, taking a core from the encoder or decoder:
    on the CI machine, p95 over the clips of 8 s or less went from 165.7 to 146.4 ms with the
    onnxruntime decoder when limited (same run, alternating clip by clip).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _load_ctranslate2(
    path: Path, options: EngineOptions, weights: ModelWeights | None, *, solo_threads: int
) -> tuple[Any, Any | None]:
    """The workers' CTranslate2 model, and an encoder on `solo_threads` threads for a clip alone.

    The solo encoder is loaded from a copy of the model cut to the encoder (see `_write_encoder_only`),
    which needs `weights`; no solo encoder when `solo_threads` is no more than the workers' threads.
    """

    def load(directory: Path, workers: int, threads: int) -> Any:
        return ctranslate2.models.Whisper(
            str(directory),
            device=options.device,
            compute_type=options.compute_type,
            inter_threads=workers,
            intra_threads=threads,
        )

    encoder_dir = path

    def load_encoder(workers: int, threads: int) -> Any:
        nonlocal encoder_dir
        if encoder_dir != path:
            try:
                return load(encoder_dir, workers, threads)
            except (RuntimeError, ValueError) as exc:  # a CTranslate2 that checks the decoder's shapes
                logger.warning("cannot load the encoder-only model (%s); loading the whole model", exc)
                encoder_dir = path
        return load(path, workers, threads)

    try:
        with tempfile.TemporaryDirectory(prefix="asr-encoder-") as directory:
            if weights is not None:
                _write_encoder_only(path, weights, Path(directory))
                encoder_dir = Path(directory)
            model = load(path, options.num_workers, options.threads_per_worker)
            solo = load_encoder(1, solo_threads) if solo_threads > options.threads_per_worker else None
            return model, solo
    except (RuntimeError, ValueError, OSError) as exc:
        raise ValueError(f"model: cannot load {str(path)!r} with {options}: {exc}") from exc


def _write_encoder_only(path: Path, weights: ModelWeights, directory: Path) -> None:
    """Copy the model directory for CTranslate2, with `model.bin` cut to what the encoder needs.

    The solo encoder only encodes; its int8 copy of the decoder's vocabulary matrix (20 MB of RSS for
    tiny.en) would never be read. The copy goes through a file:
    CTranslate2 keeps the bytes of a model given in memory (`files=`) for the model's life.
    """
    (directory / "model.bin").write_bytes(encoder_only_model_bin(weights))
    for entry in path.iterdir():
        if entry.is_file() and entry.name not in ("model.bin", "tokenizer.json") and entry.suffix in (".json", ".txt"):
            shutil.copyfile(entry, directory / entry.name)


def special_tokens(tokenizer: Tokenizer, *, multilingual: bool, path: Path) -> SpecialTokens:
    def token_id(token: str) -> int:
        value = tokenizer.token_to_id(token)
        if value is None:
            raise ValueError(f"model: tokenizer.json of {str(path)!r} has no {token} token")
        return int(value)

    sot = token_id("<|startoftranscript|>")
    # English-only models take no language or task token; multilingual ones a language token (per
    # call: English by default) and <|transcribe|>.
    language_tokens = _language_tokens(tokenizer, sot=sot, end=token_id("<|translate|>")) if multilingual else ()
    if multilingual and (not language_tokens or language_tokens[0][0] != "en"):
        raise ValueError(f"model: tokenizer.json of {str(path)!r} does not list <|en|> first after "
                         "<|startoftranscript|>, as Whisper's multilingual vocabularies do")
    transcribe = token_id("<|transcribe|>") if multilingual else None
    sot_sequence = (sot, language_tokens[0][1], token_id("<|transcribe|>")) if multilingual else (sot,)
    return SpecialTokens(
        sot_sequence=sot_sequence,
        language_tokens=language_tokens,
        transcribe=transcribe,
        sot_prev=token_id("<|startofprev|>"),
        eot=token_id("<|endoftext|>"),
        timestamp_begin=token_id("<|notimestamps|>") + 1,
        no_speech=token_id("<|nospeech|>" if tokenizer.token_to_id("<|nospeech|>") is not None
                           else "<|nocaptions|>"),
    )


def _language_tokens(tokenizer: Tokenizer, *, sot: int, end: int) -> tuple[tuple[str, int], ...]:
    """The language tokens of a multilingual vocabulary: every id between <|startoftranscript|> and
    <|translate|>, in Whisper's order (<|en|> first; 99 languages, 100 from large-v3 on)."""
    languages: list[tuple[str, int]] = []
    for token in range(sot + 1, end):
        text = tokenizer.id_to_token(token) or ""
        if not (text.startswith("<|") and text.endswith("|>")):
            break
        languages.append((text[2:-2], token))
    return tuple(languages)


def _model_info(
    files: ModelFiles, options: EngineOptions, decode: DecodeOptions, *, languages: tuple[str, ...]
) -> EngineInfo:
    name = files.name
    options_repr = repr(decode)
    return EngineInfo(
        model_id=name if "whisper" in name else f"whisper-{name}",
        # the decoder's kernels change the numbers, so they are part of the version
        model_version=(f"{name}-ort-int8" if options.decoder == "onnxruntime" else f"{name}-ct2-{options.compute_type}")
        + f"+{files.fingerprint}",
        engine=ENGINE_NAME,
        config_hash=hashlib.sha256(options_repr.encode()).hexdigest()[:8],
        languages=languages,
    )
