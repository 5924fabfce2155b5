"""Bring your own model: Hugging Face Whisper checkpoints in, checked, and ready for the registry.

- `import_checkpoint` (`asr models import`): a `WhisperForConditionalGeneration` checkpoint converted with
  CTranslate2's converter for `transformers` into a model directory the default engine loads, with its
  tokenizer files and a provenance record (`asr_service.deployment.PROVENANCE_FILE`);
- `check_engines` (`asr models check`): two engines over a manifest: token agreement, WER, latency;
- `export_hf` (`asr models export-hf`): the inverse, a CTranslate2 Whisper model as a checkpoint (to make
  one offline, as the tests do from the embedded tiny.en);
- `inspect_checkpoint`: what a checkpoint directory holds, refused in one line when it cannot be served.

The conversion and the `transformers-whisper` engine need the `convert` extra
(`pip install 'asr-service[convert]'`: transformers and a CPU build of torch); importing this package
does not load them, nor anything else heavy: each name loads its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asr_service._lazy import lazy_getattr

if TYPE_CHECKING:
    from asr_service.models._check import CheckReport, ClipComparison, check_engines
    from asr_service.models._checkpoint import Checkpoint, CheckpointError, inspect_checkpoint
    from asr_service.models._export import ExportResult, export_hf
    from asr_service.models._import import ImportResult, import_checkpoint

__all__ = [
    "CheckReport",
    "Checkpoint",
    "CheckpointError",
    "ClipComparison",
    "ExportResult",
    "ImportResult",
    "check_engines",
    "export_hf",
    "import_checkpoint",
    "inspect_checkpoint",
]

_HOMES = {
    "CheckReport": "asr_service.models._check",
    "ClipComparison": "asr_service.models._check",
    "check_engines": "asr_service.models._check",
    "Checkpoint": "asr_service.models._checkpoint",
    "CheckpointError": "asr_service.models._checkpoint",
    "inspect_checkpoint": "asr_service.models._checkpoint",
    "ExportResult": "asr_service.models._export",
    "export_hf": "asr_service.models._export",
    "ImportResult": "asr_service.models._import",
    "import_checkpoint": "asr_service.models._import",
}

__getattr__ = lazy_getattr(__name__, _HOMES)
