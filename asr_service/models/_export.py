"""A CTranslate2 Whisper model back to a Hugging Face `WhisperForConditionalGeneration` checkpoint.

The inverse of CTranslate2's own converter for `transformers` (`ctranslate2.converters.transformers`,
`WhisperLoader` over `BartLoader`): the same tensors under their `transformers` names, the fused
projections split again. What the converter fuses, and how it is undone here:

- self-attention: `q_proj`, `k_proj`, `v_proj` stacked into `linear_0` (weights on rows, biases with
  zeros for `k_proj`, which has none in Whisper); `out_proj` is `linear_1`;
- cross-attention: `q_proj` is `linear_0`, `k_proj` and `v_proj` stacked into `linear_1`, `out_proj`
  is `linear_2`;
- the layer norms are `gamma`/`beta`, the position embeddings `encodings`, and the output projection
  an alias of the token embeddings (tied in `transformers` too).

A quantized `model.bin` (int8, int16) is dequantized with its scales first: the checkpoint holds the
quantized values, not the original weights. The embedded tiny.en stores float16, so its weights come
back exactly (float16 widens to float32 without loss) and an import of the export gives the same
`model.bin` variables again.

Used to make an offline checkpoint (the tests, `bench/bench_import.py`, and `asr models export-hf`),
since nothing may be downloaded. Needs `torch` and `transformers` (the `convert` extra).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.engines._ct2_weights import ModelWeights, read_model_bin
from asr_service.models._checkpoint import CheckpointError, require_convert_extra

__all__ = ["ExportResult", "export_hf"]

_WHISPER_SPEC = "WhisperSpec"
_MULTILINGUAL_VOCAB = 51_865  # Whisper's rule: the multilingual vocabularies have 51,865 tokens or more
_LAYER = re.compile(r"(encoder|decoder)/layer_(\d+)/")


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    """What `export_hf` wrote."""

    path: Path
    tensors: int  # tensors in model.safetensors
    parameters: int
    vocab_size: int
    multilingual: bool


def export_hf(model_dir: str | Path, out_dir: str | Path, *, force: bool = False) -> ExportResult:
    """Write the CTranslate2 Whisper model in `model_dir` as a `transformers` checkpoint in `out_dir`.

    `out_dir` is created; it must not hold files unless `force`. Raises `CheckpointError` for a
    directory that is not a CTranslate2 Whisper model.
    """
    source = Path(model_dir).expanduser()
    target = Path(out_dir).expanduser()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (source / name).is_file():
            raise CheckpointError(f"{source}: not a CTranslate2 Whisper model directory (no {name})")
    if target.exists() and any(target.iterdir()) and not force:
        raise CheckpointError(f"{target}: exists and is not empty (use --force to write into it)")
    torch, transformers = require_convert_extra()
    try:
        weights = read_model_bin(source / "model.bin")
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from exc
    if weights.spec != _WHISPER_SPEC:
        raise CheckpointError(f"{source}: holds a {weights.spec}, not a Whisper model")
    ct2_config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    config = _whisper_config(transformers, weights, ct2_config, source)
    tensors = _state_dict(weights, config)
    model = transformers.WhisperForConditionalGeneration(config)
    state = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # proj_out is tied to the token embeddings; anything else missing is a bug in the mapping
    missing = [name for name in missing if name != "proj_out.weight"]
    if missing or unexpected:
        raise CheckpointError(f"{source}: the weights do not fit Whisper's layout (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")
    model.tie_weights()
    if ct2_config.get("alignment_heads"):  # the heads word timestamps read (CTranslate2 keeps them in config.json)
        model.generation_config.alignment_heads = [list(map(int, pair)) for pair in ct2_config["alignment_heads"]]
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(target))
    tokenizer = transformers.WhisperTokenizer(tokenizer_file=str(source / "tokenizer.json"))
    tokenizer.save_pretrained(str(target))
    transformers.WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(str(target))
    for extra in ("vocabulary.txt", "vocabulary.json"):  # not needed by transformers; kept for the record
        if (source / extra).is_file():
            shutil.copyfile(source / extra, target / f"ct2_{extra}")
    return ExportResult(path=target, tensors=len(tensors), parameters=sum(int(v.size) for v in tensors.values()),
                        vocab_size=config.vocab_size, multilingual=config.vocab_size >= _MULTILINGUAL_VOCAB)


def _whisper_config(transformers: Any, weights: ModelWeights, ct2_config: dict[str, Any], source: Path) -> Any:
    """The `WhisperConfig` whose shapes are those of `weights`, with the model's special tokens and rules."""
    variables = weights.variables
    try:
        d_model = int(variables["encoder/layer_norm/gamma"].shape[0])
        vocab = int(variables["decoder/embeddings/weight"].shape[0])
        n_mels = int(variables["encoder/conv1/weight"].shape[1])
        config = transformers.WhisperConfig(
            vocab_size=vocab,
            num_mel_bins=n_mels,
            d_model=d_model,
            encoder_layers=_count_layers(variables, "encoder"),
            decoder_layers=_count_layers(variables, "decoder"),
            encoder_attention_heads=int(variables["encoder/num_heads"]),
            decoder_attention_heads=int(variables["decoder/num_heads"]),
            encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
            decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
            max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
            max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
            # Whisper's ids: <|endoftext|> 50256 in every vocabulary, <|startoftranscript|> after it
            bos_token_id=50256, eos_token_id=50256, pad_token_id=50256,
            decoder_start_token_id=50258 if vocab >= _MULTILINGUAL_VOCAB else 50257,
            suppress_tokens=[int(i) for i in ct2_config.get("suppress_ids", [])],
            begin_suppress_tokens=[int(i) for i in ct2_config.get("suppress_ids_begin", [])],
            tie_word_embeddings=True,
        )
    except KeyError as exc:
        raise CheckpointError(f"{source}: model.bin has no {exc.args[0]}: not the Whisper layout") from exc
    config.architectures = ["WhisperForConditionalGeneration"]
    return config


def _count_layers(variables: dict[str, Any], stack: str) -> int:
    return len({int(m.group(2)) for name in variables if (m := _LAYER.match(name)) and m.group(1) == stack})


def _state_dict(weights: ModelWeights, config: Any) -> dict[str, npt.NDArray[np.float32]]:
    """`transformers` name -> float32 tensor, for every weight of `weights` (see the module docstring)."""
    d_model = int(config.d_model)
    out: dict[str, npt.NDArray[np.float32]] = {}

    def put(hf: str, ct2: str) -> None:
        out[hf] = weights.float32(ct2)

    def norm(hf: str, ct2: str) -> None:
        put(f"{hf}.weight", f"{ct2}/gamma")
        put(f"{hf}.bias", f"{ct2}/beta")

    def linear(hf: str, ct2: str) -> None:
        put(f"{hf}.weight", f"{ct2}/weight")
        put(f"{hf}.bias", f"{ct2}/bias")

    def split(hf_names: tuple[str, ...], ct2: str) -> None:
        """A fused projection back into its parts, `d_model` rows each; `k_proj` has no bias."""
        weight, bias = weights.float32(f"{ct2}/weight"), weights.float32(f"{ct2}/bias")
        for i, name in enumerate(hf_names):
            out[f"{name}.weight"] = weight[i * d_model : (i + 1) * d_model]
            if not name.endswith("k_proj"):
                out[f"{name}.bias"] = bias[i * d_model : (i + 1) * d_model]

    for stack, layers in (("encoder", config.encoder_layers), ("decoder", config.decoder_layers)):
        hf_stack, ct2_stack = f"model.{stack}", stack
        put(f"{hf_stack}.embed_positions.weight", f"{ct2_stack}/position_encodings/encodings")
        norm(f"{hf_stack}.layer_norm", f"{ct2_stack}/layer_norm")
        for i in range(layers):
            hf, ct2 = f"{hf_stack}.layers.{i}", f"{ct2_stack}/layer_{i}"
            norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
            split((f"{hf}.self_attn.q_proj", f"{hf}.self_attn.k_proj", f"{hf}.self_attn.v_proj"),
                  f"{ct2}/self_attention/linear_0")
            linear(f"{hf}.self_attn.out_proj", f"{ct2}/self_attention/linear_1")
            if stack == "decoder":
                norm(f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm")
                linear(f"{hf}.encoder_attn.q_proj", f"{ct2}/attention/linear_0")
                split((f"{hf}.encoder_attn.k_proj", f"{hf}.encoder_attn.v_proj"), f"{ct2}/attention/linear_1")
                linear(f"{hf}.encoder_attn.out_proj", f"{ct2}/attention/linear_2")
            norm(f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm")
            linear(f"{hf}.fc1", f"{ct2}/ffn/linear_0")
            linear(f"{hf}.fc2", f"{ct2}/ffn/linear_1")
    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    put("model.decoder.embed_tokens.weight", "decoder/embeddings/weight")
    return out
