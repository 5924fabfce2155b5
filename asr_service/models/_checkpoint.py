"""What a Hugging Face Whisper checkpoint directory holds, checked before anything heavy is loaded.

`inspect_checkpoint` reads `config.json` and lists the files (no torch, no transformers), so that
`asr models import`, `asr models check` and the `transformers-whisper` engine refuse what they cannot
serve with one clear line: not a directory, no or unreadable `config.json`, not a Whisper model, an
architecture other than `WhisperForConditionalGeneration`, no `tokenizer.json`, no weight files.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ARCHITECTURE", "Checkpoint", "CheckpointError", "inspect_checkpoint", "require_convert_extra"]

ARCHITECTURE = "WhisperForConditionalGeneration"
CONVERT_HINT = "pip install 'asr-service[convert]'"
# Files a checkpoint's tokenizer and feature extractor may come with; copied beside a converted model.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "normalizer.json", "preprocessor_config.json",
                   "generation_config.json")
_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
_HASH_CHUNK_BYTES = 1 << 20


class CheckpointError(ValueError):
    """A checkpoint (or model directory) that cannot be converted, checked or served; the message is one line."""


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A Whisper checkpoint directory, as found on disk."""

    path: Path
    config: dict[str, Any]
    weight_files: tuple[Path, ...]  # the safetensors (or PyTorch .bin) files, sorted by name

    @property
    def vocab_size(self) -> int:
        """Tokens in the decoder's vocabulary (51,864 for an English-only Whisper, 51,865+ multilingual)."""
        return int(self.config.get("vocab_size", 0))

    def weights_sha256(self) -> str:
        """sha256 over the weight files' names and bytes, in name order (config.json included)."""
        digest = hashlib.sha256()
        for path in (self.path / "config.json", *self.weight_files):
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as handle:
                while chunk := handle.read(_HASH_CHUNK_BYTES):
                    digest.update(chunk)
        return digest.hexdigest()


def inspect_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint in `path`; CheckpointError (one line) for anything that is not a servable Whisper one."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a directory")
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: no config.json: not a Hugging Face checkpoint directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_path}: unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: not a JSON object")
    model_type = config.get("model_type")
    if model_type != "whisper":
        if (folder / "model.bin").is_file():
            raise CheckpointError(f"{folder}: a CTranslate2 model directory, not a Hugging Face checkpoint "
                                  "(it is served as it is: asr deploy load DIR)")
        raise CheckpointError(f"{folder}: not a Whisper model (config.json model_type is {model_type!r})")
    architectures = config.get("architectures") or [ARCHITECTURE]
    if ARCHITECTURE not in architectures:
        raise CheckpointError(f"{folder}: unsupported architecture {', '.join(map(str, architectures))} "
                              f"(only {ARCHITECTURE} transcribes)")
    if not (folder / "tokenizer.json").is_file():
        raise CheckpointError(f"{folder}: no tokenizer.json (save the tokenizer with the model: "
                              "WhisperTokenizer.from_pretrained(...).save_pretrained(DIR))")
    weights = sorted({p for pattern in _WEIGHT_PATTERNS for p in folder.glob(pattern)})
    if not weights:
        raise CheckpointError(f"{folder}: no weight files (model.safetensors or pytorch_model.bin)")
    return Checkpoint(path=folder.resolve(), config=config, weight_files=tuple(weights))


def require_convert_extra() -> tuple[Any, Any]:
    """(torch, transformers), imported; CheckpointError naming the extra when they are not installed."""
    try:  # through importlib: typed as Any, so mypy does not read all of torch
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
    except ImportError as exc:
        raise CheckpointError(f"needs torch and transformers ({exc.name} is not installed): {CONVERT_HINT}") from exc
    return torch, transformers
