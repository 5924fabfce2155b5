"""`asr transcribe-batch`: transcribe every file of a manifest or a folder into JSON lines, resumably."""

from __future__ import annotations

import argparse
import sys

from asr_service.cli._common import add_client_tls_flags, add_server_flags, add_vad_flags, fail, vad_options
from asr_service.cli._eval import add_cluster_flag, add_revisions_flag, chosen_failure_code, make_file_transcriber
from asr_service.errors import AsrError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `transcribe-batch`."""
    parser = subparsers.add_parser(
        "transcribe-batch",
        help="offline transcription of a manifest or a folder into JSON lines (resumable)",
        description="Transcribe each file of a manifest (JSON lines with 'audio') or a folder (searched "
        "recursively for audio files) through the client VAD, appending one JSON line per file to OUT. "
        "Files OUT already holds are skipped, so a rerun resumes. --workers N transcribes N files at once "
        "(in-process: one model, N clips at once; N * --threads may not exceed the cores). --cluster local "
        "runs N worker processes of one model each on a Dask cluster started for the run, --cluster ADDRESS "
        "the workers of a running one; the output, its resuming and the progress bar are the same.",
    )
    parser.add_argument("source", metavar="MANIFEST|DIR")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.jsonl")
    parser.add_argument("--server", metavar="HOST:PORT", help="transcribe through this server (default: in-process)")
    add_client_tls_flags(parser)
    add_cluster_flag(parser)
    add_revisions_flag(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_vad_flags(parser)
    add_server_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Transcribe what OUT lacks; exit 1 when some files could not be read, 2 on bad input."""
    from tqdm import tqdm

    from asr_service.evaluation import EvaluationError, batch_items, run_batch

    try:
        options = vad_options(args)
        items, problems = batch_items(args.source)
    except (ValueError, AsrError) as exc:
        return fail(str(exc), 2)
    for problem in problems:
        print(f"asr: skipped manifest line {problem.line}: {problem.reason}", file=sys.stderr)
    if not items:
        return fail(f"{args.source}: no audio to transcribe", 2)
    try:
        chosen = make_file_transcriber(args, options)
    except (ValueError, AsrError) as exc:
        return fail(str(exc), chosen_failure_code(args, exc))
    bar = tqdm(unit="file", desc="transcribe", disable=True if args.no_progress else None, file=sys.stderr)
    try:
        summary = run_batch(items, args.output, chosen.transcribe, workers=chosen.workers,
                            on_start=lambda n: bar.reset(total=n), progress=lambda: bar.update(1))
    except EvaluationError as exc:
        return fail(str(exc), 2)
    except AsrError as exc:
        return fail(str(exc), 1)
    finally:
        bar.close()
        chosen.close()
    for problem in summary.failed:
        where = f"manifest line {problem.line}" if problem.line else problem.audio
        print(f"asr: {where}: {problem.reason}", file=sys.stderr)
    print(f"{summary.transcribed} transcribed, {summary.skipped} already in {args.output}, "
          f"{len(summary.failed)} failed", file=sys.stderr)
    return 1 if summary.failed or problems else 0
