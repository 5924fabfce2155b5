"""Whisper on Hugging Face `transformers` (CPU), behind the same `Engine` protocol and decoding rules.

For a checkpoint CTranslate2 cannot convert, and to check a conversion (`asr models check`): the model is
a `WhisperForConditionalGeneration` loaded from a checkpoint directory (`engine.model`), and every
decoding rule is the default engine's, not a copy of it:

- the decode loop over windows (the short-window fast path, the full-window fallback, Whisper's silence
  rule, the degeneracy checks, long clips in 30 s windows, the previous-text prompt) is
  `CTranslate2WhisperEngine`'s: this engine is that class over other parts;
- the greedy loop with CTranslate2's token rules (suppressed tokens, blank, timestamp rules, the
  no-speech probability) is `OnnxWhisperDecoder`'s, over this module's `_TorchWhisperNetwork`;
- the features are the same numpy log-mel (`_mel`), the windows `_decoding.choose_window_s`.

What runs in `transformers`: the encoder's layers over the window's frames (its modules called one by
one, since `WhisperEncoder.forward` insists on 3000 frames while the fast path encodes 10-20 s
windows: the position embeddings are cut to the frames, as CTranslate2 does), and the decoder a step at
a time with its own key/value cache, then the tied output projection.

Precision: bfloat16 where the CPU has native bfloat16 dot products (AVX512-BF16 or AMX, asked of
torch's `torch.cpu._is_avx512_bf16_supported()` / `_is_amx_tile_supported()`), else float32;
`engine.compute_type` "float32" or "bfloat16" forces one (bfloat16 on a CPU without it is refused:
torch would emulate it, slower than float32). The logits go to the decoding rules in float32.

Thread safety: one clip at a time, behind a lock around `transcribe`, on all the cores
(`torch.set_num_threads(engine.threads_when_alone)`, process-wide: torch has one intra-op pool).
Concurrent callers queue; this engine is for checking and for checkpoints CTranslate2 cannot take,
not for a server's throughput.

Needs the `convert` extra (`pip install 'asr-service[convert]'`); nothing here imports torch before
an engine is built, and the engine registry imports this module only when it is picked.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from asr_service.engines._decoding import DecodeOptions
from asr_service.engines._loading import LoadedModel, special_tokens
from asr_service.engines._model_files import ModelFiles
from asr_service.engines._onnx_decoder import OnnxWhisperDecoder
from asr_service.engines._onnx_graph import Dims
from asr_service.engines.base import EngineInfo, EngineOptions, Transcription
from asr_service.engines.ctranslate2_whisper import CTranslate2WhisperEngine
from asr_service.errors import ConfigError

__all__ = ["ENGINE_NAME", "TransformersWhisperEngine", "choose_dtype"]

logger = logging.getLogger(__name__)

ENGINE_NAME = "transformers-whisper"
_MULTILINGUAL_VOCAB = 51_865
_FORCED = {"float32": "float32", "bfloat16": "bfloat16"}  # engine.compute_type values that pick a precision


def choose_dtype(compute_type: str, *, bf16_supported: bool) -> str:
    """"float32" or "bfloat16" for `engine.compute_type` on a CPU with (or without) native bfloat16.

    "float32" and "bfloat16" are taken as asked (ConfigError for bfloat16 without CPU support); any
    other value (the server default "int8", "auto", "default") means bfloat16 where supported, else float32.
    """
    if compute_type == "bfloat16" and not bf16_supported:
        raise ConfigError("engine.compute_type: 'bfloat16' needs a CPU with AVX512-BF16 or AMX "
                          "(this one has neither); use 'float32' or 'auto'")
    return _FORCED.get(compute_type, "bfloat16" if bf16_supported else "float32")


def cpu_has_bf16(torch: Any) -> bool:
    """Whether this CPU computes bfloat16 dot products natively (AVX512-BF16 or AMX tiles)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


class TransformersWhisperEngine(CTranslate2WhisperEngine):
    """A Whisper checkpoint (Hugging Face format) on `transformers`, with the default engine's decode loop."""

    def __init__(self, options: EngineOptions, decode_options: DecodeOptions | None = None) -> None:
        from asr_service.models._checkpoint import CheckpointError, inspect_checkpoint, require_convert_extra

        if options.device != "cpu":
            raise ConfigError(f"engine.device: {ENGINE_NAME} runs on the CPU only, not {options.device!r}")
        try:
            checkpoint = inspect_checkpoint(options.model)
            torch, transformers = require_convert_extra()
        except CheckpointError as exc:
            raise ConfigError(f"engine.model: {exc}") from exc
        decode = decode_options or DecodeOptions()
        if decode.beam_size != 1:
            raise ConfigError(f"engine: {ENGINE_NAME} is greedy only; beam_size must be 1, not {decode.beam_size}")
        dtype_name = choose_dtype(options.compute_type, bf16_supported=cpu_has_bf16(torch))
        torch.set_num_threads(options.threads_when_alone)
        network = _TorchWhisperNetwork(torch, transformers, checkpoint.path, dtype=getattr(torch, dtype_name))
        tokenizer = Tokenizer.from_file(str(checkpoint.path / "tokenizer.json"))
        multilingual = checkpoint.vocab_size >= _MULTILINGUAL_VOCAB
        tokens = special_tokens(tokenizer, multilingual=multilingual, path=checkpoint.path)
        decoder = OnnxWhisperDecoder(cast(Any, network), tokens, decode)  # duck-typed: see _TorchWhisperNetwork
        name = checkpoint.path.name
        fingerprint = checkpoint.weights_sha256()[:7]
        info = EngineInfo(
            model_id=name if "whisper" in name else f"whisper-{name}",
            model_version=f"{name}-hf-{'bf16' if dtype_name == 'bfloat16' else 'fp32'}+{fingerprint}",
            engine=ENGINE_NAME,
            config_hash=hashlib.sha256(repr(decode).encode()).hexdigest()[:8],
            languages=tokens.languages,
        )
        # the default engine's decode loop over this network: one encoder (no solo one: torch has one pool)
        loaded = LoadedModel(files=ModelFiles(path=checkpoint.path, name=name, fingerprint=fingerprint),
                             encoder=network, solo_encoder=None, onnx_model=None, decoder=decoder,
                             detector=decoder if tokens.language_tokens else None, tokenizer=tokenizer,
                             tokens=tokens, n_mels=network.n_mels, info=info)
        super().__init__(options, decode, loaded=loaded)
        self._network: _TorchWhisperNetwork | None = network
        self._clip_lock = threading.Lock()
        self.dtype = dtype_name
        logger.info("loaded %s (%s) from %s on transformers, %s, %d thread(s)", self._info.model_id,
                    self._info.model_version, checkpoint.path, dtype_name, options.threads_when_alone)

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        """Transcribe 16 kHz mono float32 audio, as the default engine does. Thread-safe: one clip at a time."""
        with self._clip_lock:
            return super().transcribe(audio, context=context, language=language)

    def close(self) -> None:
        """Release the model; later calls to `transcribe` raise RuntimeError."""
        with self._clip_lock:
            super().close()
            if self._network is not None:
                self._network.close()
            self._network = None


class _TorchWhisperNetwork:
    """The encoder (an `Encoder`) and the decoder network of a `transformers` Whisper, in the shape
    `OnnxWhisperDecoder` drives its network: `dims`, `suppress_ids`, `suppress_ids_begin`,
    `cross_attention`, `empty_cache` and `forward`. Called under the engine's lock."""

    def __init__(self, torch: Any, transformers: Any, path: Path, *, dtype: Any) -> None:
        self._torch = torch
        model = transformers.WhisperForConditionalGeneration.from_pretrained(str(path), dtype=dtype)
        model.eval()
        self._model: Any = model
        self._dtype = dtype
        config = model.config
        self.n_mels = int(config.num_mel_bins)
        self.dims = Dims(layers=int(config.decoder_layers), heads=int(config.decoder_attention_heads),
                         d_model=int(config.d_model), vocab=int(config.vocab_size),
                         max_positions=int(config.max_target_positions))
        generation = getattr(model, "generation_config", None)
        # where CTranslate2's converter takes them from (WhisperLoader.set_config): the generation config first
        source = generation if generation is not None and generation.suppress_tokens is not None else config
        self.suppress_ids = tuple(int(i) for i in (source.suppress_tokens or ()))
        self.suppress_ids_begin = tuple(int(i) for i in (source.begin_suppress_tokens or ()))

    # -- Encoder ---------------------------------------------------------------------------------

    def encode(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The encoder output `[1, frames / 2, d_model]` of log-mel `features` `[n_mels, frames]` (any frames
        up to 3000: the encoder's layers, called as `WhisperEncoder.forward` calls them)."""
        torch = self._torch
        model = self._require()
        encoder = model.model.encoder
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(features))[None].to(self._dtype)
            x = torch.nn.functional.gelu(encoder.conv1(x))
            x = torch.nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
            frames = x.shape[1]
            if frames > encoder.embed_positions.weight.shape[0]:
                raise ValueError(f"features: {features.shape[1]} frames, more than the encoder's window")
            hidden = x + encoder.embed_positions.weight[:frames]
            for layer in encoder.layers:
                hidden = layer(hidden, None)
                hidden = hidden[0] if isinstance(hidden, tuple) else hidden
            # float32 numpy, as the other encoders give (bfloat16 widens exactly; `cross_attention` narrows it)
            encoded: npt.NDArray[np.float32] = encoder.layer_norm(hidden).float().numpy()
        return encoded

    # -- the decoder network, as OnnxWhisperDecoder calls it ----------------------------------------

    def cross_attention(self, encoder_output: npt.NDArray[np.float32]) -> Any:
        """The encoder output `[frames, d_model]` as the model's tensor: the decoder computes its
        cross-attention keys and values from it once per decode and keeps them in its cache."""
        return self._torch.from_numpy(np.ascontiguousarray(encoder_output))[None].to(self._dtype)

    def empty_cache(self) -> Any:
        """No cache yet: the decoder makes one on its first call."""
        return None

    def forward(
        self, ids: list[int], start: int, cache: Any, cross: Any, rows: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float32], Any]:
        """Run `ids` at positions `start...`: the float32 logits of the new positions `rows`, and the grown cache."""
        torch = self._torch
        model = self._require()
        with torch.inference_mode():
            input_ids = torch.tensor([ids], dtype=torch.long)
            positions = torch.arange(start, start + len(ids), dtype=torch.long)[None]
            out = model.model.decoder(input_ids=input_ids, encoder_hidden_states=cross, cache=cache,
                                      position_ids=positions, use_cache=True)
            hidden = out.last_hidden_state[0, torch.from_numpy(np.asarray(rows, dtype=np.int64))]
            logits = model.proj_out(hidden).float().numpy()
        return logits, out.cache

    def close(self) -> None:
        self._model = None

    def _require(self) -> Any:
        if self._model is None:
            raise RuntimeError("engine: transcribe() called after close()")
        return self._model
