"""The `asr` command: serve, transcribe, demo, listen, evaluation, deployment, and the labeling tools' commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from asr_service.cli import (
    _auth,
    _batch,
    _demo,
    _deploy,
    _eval,
    _listen,
    _logs,
    _models,
    _monitor,
    _serve,
    _silero,
    _transcribe,
)
from asr_service.cli._common import fail
from labeling import cli as labeling_cli
from vad.detectors import SileroModelMissing

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole `asr` argument parser."""
    parser = argparse.ArgumentParser(
        prog="asr",
        description="Speech recognition service: client-side VAD, gRPC, a Whisper server inside a latency budget.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _serve.register(subparsers)
    _transcribe.register(subparsers)
    _demo.register(subparsers)
    _listen.register(subparsers)
    _eval.register(subparsers)
    _batch.register(subparsers)
    _monitor.register(subparsers)  # `monitor baseline` and `replay`
    _auth.register(subparsers)  # `auth add-token`
    _logs.register(subparsers)  # `logs purge` and `logs stats`: the request log
    _deploy.register(subparsers)  # `deploy status|load|switch|canary|...`: admin calls on the HTTP port
    _models.register(subparsers)  # `models import|check|export-hf`: Hugging Face checkpoints in
    _silero.register(subparsers)  # `silero install|status`: the Silero VAD's model and browser runtime
    labeling_cli.register(subparsers)  # `conventions` and `label`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `asr` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("asr: interrupted", file=sys.stderr)
        return 130
    except SileroModelMissing as exc:  # --vad-detector silero before `asr silero install`: any command
        return fail(str(exc))
    return code


if __name__ == "__main__":
    sys.exit(main())
