"""`asr models import`: a Hugging Face Whisper checkpoint converted into a model directory the server loads.

The conversion is CTranslate2's own converter for `transformers` (`TransformersConverter`, the one behind
`ct2-transformers-converter`): it loads `WhisperForConditionalGeneration`, maps its tensors onto
CTranslate2's `WhisperSpec` and writes `model.bin`, `config.json` (suppressed tokens, alignment heads,
language ids from the checkpoint's generation config) and the vocabulary. Beside them go the
checkpoint's tokenizer and preprocessor files (the engine reads `tokenizer.json`) and the provenance
record `PROVENANCE_FILE` that the deployment state shows: where the model came from, a sha256 of its
weights, the conversion's options and the library versions.

The output is written to a temporary folder beside `out_dir` and renamed into place once complete, so
an interrupted import never leaves a half-written model that looks whole.

Storage: float16 by default, as the embedded tiny.en and faster-whisper's conversions are stored. The
engine quantizes at load time to its compute type (int8 on the CPU by default), so `--quantization
int8` only makes the file smaller (and the engine then dequantizes and requantizes the int8 values).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from asr_service.deployment._models import PROVENANCE_FILE
from asr_service.models._checkpoint import (
    TOKENIZER_FILES,
    CheckpointError,
    inspect_checkpoint,
    require_convert_extra,
)

__all__ = ["QUANTIZATIONS", "ImportResult", "import_checkpoint"]

logger = logging.getLogger(__name__)

# What model.bin stores; the engine's compute type decides what it runs in.
QUANTIZATIONS = ("float16", "float32", "int8", "int8_float16", "int8_float32", "int16", "bfloat16")
DEFAULT_QUANTIZATION = "float16"
_LIBRARIES = ("asr-service", "ctranslate2", "transformers", "torch", "tokenizers", "safetensors")
_PROVENANCE_SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    """What `import_checkpoint` wrote."""

    path: Path
    provenance: dict[str, Any]
    model_bin_bytes: int


def import_checkpoint(
    hf_dir: str | Path, out_dir: str | Path, *, quantization: str = DEFAULT_QUANTIZATION, force: bool = False
) -> ImportResult:
    """Convert the Whisper checkpoint in `hf_dir` into a CTranslate2 model directory `out_dir`.

    CheckpointError (one line) for a checkpoint it cannot serve, an output folder that exists and is
    not empty (unless `force`: then it is replaced), or a conversion that fails.
    """
    if quantization not in QUANTIZATIONS:
        raise CheckpointError(f"quantization: {quantization!r} is not one of {', '.join(QUANTIZATIONS)}")
    checkpoint = inspect_checkpoint(hf_dir)
    target = Path(out_dir).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"{target}: exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise CheckpointError(f"{target}: exists and is not empty (use --force to replace it)")
    if target == checkpoint.path or checkpoint.path.is_relative_to(target):
        raise CheckpointError(f"{target}: would overwrite the checkpoint itself")
    require_convert_extra()
    from ctranslate2.converters import TransformersConverter

    sha256 = checkpoint.weights_sha256()  # before converting: what was read is what is recorded
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".importing", dir=target.parent))
    try:
        converter = TransformersConverter(str(checkpoint.path))
        try:
            converter.convert(str(staging), quantization=quantization, force=True)
        except (ValueError, KeyError, RuntimeError, OSError) as exc:
            raise CheckpointError(f"{checkpoint.path}: CTranslate2 cannot convert it: {_one_line(exc)}") from exc
        copied = _copy_tokenizer_files(checkpoint.path, staging)
        provenance = _provenance(checkpoint.path, sha256, quantization=quantization, copied=copied,
                                 weight_files=[p.name for p in checkpoint.weight_files])
        (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the model from a server running as another user
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("imported %s into %s (%s)", checkpoint.path, target, quantization)
    return ImportResult(path=target, provenance=provenance, model_bin_bytes=(target / "model.bin").stat().st_size)


def _copy_tokenizer_files(source: Path, target: Path) -> list[str]:
    """Copy the tokenizer and preprocessor files the checkpoint has (never its config.json: the
    converter wrote CTranslate2's own)."""
    copied = []
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
            copied.append(name)
    return copied


def _provenance(
    source: Path, sha256: str, *, quantization: str, copied: list[str], weight_files: list[str]
) -> dict[str, Any]:
    return {
        "schema": _PROVENANCE_SCHEMA,
        "kind": "imported",
        "source": str(source),
        "checkpoint_sha256": sha256,
        "checkpoint_files": weight_files,
        "conversion": {"converter": "ctranslate2.converters.TransformersConverter", "quantization": quantization,
                       "copied_files": copied},
        "libraries": {name: _version(name) for name in _LIBRARIES},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
