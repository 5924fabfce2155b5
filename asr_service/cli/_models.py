"""`asr models import|check|export-hf`: bring a Hugging Face Whisper checkpoint into the registry (docs/models.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from asr_service.cli._common import fail

__all__ = ["register"]

_QUANTIZATIONS = ("float16", "float32", "int8", "int8_float16", "int8_float32", "int16", "bfloat16")
_DEFAULT_MIN_AGREEMENT = 0.98  # asr_service.models._check.DEFAULT_MIN_AGREEMENT (not imported: --help stays light)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `models` (with `import`, `check` and `export-hf`)."""
    models = subparsers.add_parser("models", help="Hugging Face Whisper checkpoints: import, check, export")
    tools = models.add_subparsers(dest="models_command", required=True, metavar="TOOL")
    imp = tools.add_parser(
        "import", help="convert a Hugging Face Whisper checkpoint into a model directory the server loads",
        description="Convert HF_DIR (a WhisperForConditionalGeneration checkpoint: config.json, safetensors, "
        "tokenizer.json) with CTranslate2's converter for transformers into MODEL_DIR, with its tokenizer files "
        "and a provenance record (asr_model.json). Needs: pip install 'asr-service[convert]'.")
    imp.add_argument("hf_dir", metavar="HF_DIR", help="the checkpoint directory")
    imp.add_argument("-o", "--out", required=True, metavar="MODEL_DIR", help="the model directory to write")
    imp.add_argument("--quantization", default="float16", choices=_QUANTIZATIONS,
                     help="how model.bin stores the weights (default float16; the engine still runs its own "
                     "compute type, int8 on the CPU)")
    imp.add_argument("--force", action="store_true", help="replace MODEL_DIR when it exists and is not empty")
    imp.set_defaults(func=run_import)

    check = tools.add_parser(
        "check", help="transcribe a manifest with an imported model and its checkpoint; compare tokens and WER",
        description="Transcribe every clip of MANIFEST with the default engine on MODEL_DIR and the "
        "transformers-whisper engine on HF_DIR; print the share of clips with identical tokens, the token "
        "edit agreement, each one's WER and latency. Exit 1 when the agreement is below --min-agreement. "
        "By default both run in float32 (the default engine on its ctranslate2 decoder), so that the check "
        "sees the conversion and not int8 quantization, which changes a third of tiny.en's outputs.")
    check.add_argument("model_dir", metavar="MODEL_DIR", help="the imported model directory")
    check.add_argument("--against", required=True, metavar="HF_DIR", help="the checkpoint it was imported from")
    check.add_argument("manifest", metavar="MANIFEST", help="an evaluation manifest (JSON lines: audio, text)")
    check.add_argument("--min-agreement", type=float, default=_DEFAULT_MIN_AGREEMENT, metavar="SHARE",
                       help=f"exit 1 below this share of identical clips (default {_DEFAULT_MIN_AGREEMENT:g})")
    check.add_argument("--as-served", action="store_true",
                       help="run MODEL_DIR as the server does (onnxruntime, int8) and the checkpoint in the "
                       "transformers engine's own precision (bfloat16 where the CPU has it) instead of float32")
    check.add_argument("--normalizer", default="whisper-digits", help="WER normaliser (default whisper-digits)")
    check.add_argument("--limit", type=int, metavar="N", help="only the first N clips")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    check.set_defaults(func=run_check)

    export = tools.add_parser(
        "export-hf", help="write a CTranslate2 Whisper model as a Hugging Face checkpoint (the inverse of import)",
        description="Write MODEL ('tiny.en', 'base' or a CTranslate2 model directory) as a "
        "WhisperForConditionalGeneration checkpoint in HF_DIR, e.g. to fine-tune from, or to check the import "
        "offline. Quantized weights are written dequantized.")
    export.add_argument("model", metavar="MODEL", help="'tiny.en', 'base' or a CTranslate2 model directory")
    export.add_argument("-o", "--out", required=True, metavar="HF_DIR", help="the checkpoint directory to write")
    export.add_argument("--force", action="store_true", help="write into HF_DIR even when it is not empty")
    export.set_defaults(func=run_export)


def run_import(args: argparse.Namespace) -> int:
    """Convert and print where the model went."""
    from asr_service.models import CheckpointError, import_checkpoint

    try:
        result = import_checkpoint(args.hf_dir, args.out, quantization=args.quantization, force=args.force)
    except CheckpointError as exc:
        return fail(f"models import: {exc}")
    size_mb = result.model_bin_bytes / 1e6
    print(f"imported {result.provenance['source']} -> {result.path} ({args.quantization}, model.bin {size_mb:.1f} MB, "
          f"checkpoint sha256 {result.provenance['checkpoint_sha256'][:12]})")
    print(f"next: asr models check {result.path} --against {args.hf_dir} MANIFEST")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export and print where the checkpoint went."""
    from asr_service.engines._model_files import ModelNotFoundError, resolve_model
    from asr_service.models import CheckpointError, export_hf

    try:
        result = export_hf(resolve_model(args.model).path, args.out, force=args.force)
    except (CheckpointError, ModelNotFoundError) as exc:
        return fail(f"models export-hf: {exc}")
    print(f"exported {args.model} -> {result.path} ({result.parameters / 1e6:.1f} M parameters, "
          f"{'multilingual' if result.multilingual else 'English-only'})")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Compare, print, and exit 1 below the agreement wanted."""
    from tqdm import tqdm

    from asr_service.engines import EngineOptions, create_engine
    from asr_service.errors import ConfigError
    from asr_service.evaluation.errors import ManifestError
    from asr_service.models import CheckpointError, check_engines, inspect_checkpoint

    if not 0.0 <= args.min_agreement <= 1.0:
        return fail(f"models check: --min-agreement must be in [0, 1], not {args.min_agreement}")
    if not (Path(args.model_dir) / "tokenizer.json").is_file():
        return fail(f"models check: {args.model_dir}: not a model directory (no tokenizer.json)")
    default_options = (EngineOptions(model=args.model_dir) if args.as_served
                       else EngineOptions(model=args.model_dir, decoder="ctranslate2", compute_type="float32"))
    hf_options = EngineOptions(engine="transformers-whisper", model=args.against,
                               compute_type="auto" if args.as_served else "float32")
    engines: list[Any] = []
    bar: Any = None
    try:
        inspect_checkpoint(args.against)
        engines = [create_engine(default_options), create_engine(hf_options)]

        def start(total: int) -> None:
            nonlocal bar
            bar = tqdm(total=total, unit="clip", disable=args.no_progress or args.json, desc="models check")

        report = check_engines((engines[0], engines[1]), args.manifest,
                               tokenizer_file=Path(args.model_dir) / "tokenizer.json", normalizer=args.normalizer,
                               limit=args.limit, on_clips=start, progress=lambda: bar.update() if bar else None)
    except (CheckpointError, ConfigError, ManifestError, ValueError) as exc:
        return fail(f"models check: {exc}")
    finally:
        if bar is not None:
            bar.close()
        for engine in engines:
            engine.close()
    data = report.to_json()
    ok = report.token_agreement >= args.min_agreement
    data |= {"min_agreement": args.min_agreement, "passed": ok}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_report(data)
    return 0 if ok else 1


def _print_report(data: dict[str, Any]) -> None:
    print(f"{data['clips']} clips: identical tokens on {100 * data['token_agreement']:.1f} %, "
          f"token edit agreement {100 * data['token_edit_agreement']:.2f} %")
    for label, engine in zip(("model", "checkpoint"), data["engines"], strict=True):
        latency = engine["latency_ms"]
        wer = "-" if engine["wer"] is None else f"{engine['wer']:.2f} %"
        print(f"  {label:<10} {engine['model_version']:<40} WER {wer:<8} latency p50/p95 {latency['p50']}/"
              f"{latency['p95']} ms")
    for row in data["differing"][:10]:
        print(f"  differs: {row['utt_id']}: {row['texts'][0]!r} / {row['texts'][1]!r}")
    for line in data["skipped"]:
        print(f"  skipped: {line}")
    verdict = "PASS" if data["passed"] else "FAIL"
    print(f"{verdict}: agreement {data['token_agreement']:.4f} vs --min-agreement {data['min_agreement']:g}")
