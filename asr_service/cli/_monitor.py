"""`asr monitor baseline` (a drift baseline from a dev set) and `asr replay` (traffic from a manifest)."""

from __future__ import annotations

import argparse
import sys

from asr_service.cli._common import add_server_flags, add_vad_flags, config_from_args, fail, setup_logging, vad_options
from asr_service.errors import AsrError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `monitor` (with `baseline`) and `replay`."""
    monitor = subparsers.add_parser("monitor", help="monitoring tools (drift baseline)")
    tools = monitor.add_subparsers(dest="monitor_command", required=True, metavar="TOOL")
    baseline = tools.add_parser(
        "baseline",
        help="build a drift baseline from a dev-set manifest",
        description="Run every file of MANIFEST (JSON lines with 'audio' relative to the manifest unless "
        "absolute) through the client VAD, measure each clip as the server does and transcribe it with the "
        "model, and write the reference profile that `asr serve --baseline FILE` compares live traffic with. "
        "Use the same VAD flags as the clients in production.",
    )
    baseline.add_argument("manifest", metavar="MANIFEST")
    baseline.add_argument("-o", "--output", required=True, metavar="FILE", help="baseline JSON to write")
    baseline.add_argument("--no-model", action="store_true",
                          help="audio and VAD features only (no confidence, words/s or null rate)")
    add_vad_flags(baseline)
    add_server_flags(baseline)
    baseline.set_defaults(func=run_baseline)

    replay = subparsers.add_parser(
        "replay",
        help="send a manifest's audio through the client VAD to a server at a set rate",
        description="Replay MANIFEST's audio as client traffic: for demos, drift tests and load. The shifts "
        "(--gain-db, --noise-snr-db, --pitch-factor) change the audio before the VAD, as a new microphone, "
        "a noisy room or higher voices would.",
    )
    replay.add_argument("manifest", metavar="MANIFEST")
    replay.add_argument("--server", required=True, metavar="HOST:PORT")
    replay.add_argument("--rate", type=float, default=0.0, metavar="QPS", help="clips per second (0: no pacing)")
    replay.add_argument("--gain-db", type=float, default=0.0, help="gain applied to the audio (dB)")
    replay.add_argument("--noise-snr-db", type=float, default=None, help="add white noise at this SNR (dB)")
    replay.add_argument("--pitch-factor", type=float, default=1.0, help="play faster by this factor (pitch up)")
    replay.add_argument("--passes", type=int, default=1, help="times through the manifest")
    replay.add_argument("--max-clips", type=int, default=None, help="stop after this many clips")
    replay.add_argument("--concurrency", type=int, default=4, help="requests in flight at most")
    add_vad_flags(replay)
    replay.set_defaults(func=run_replay)


def run_baseline(args: argparse.Namespace) -> int:
    """Build and write a baseline."""
    from asr_service.client import build_baseline

    try:
        config = config_from_args(args)
        setup_logging(config.log_level)
        baseline = build_baseline(args.manifest, vad_options=vad_options(args), config=config,
                                  transcribe=not args.no_model)
        baseline.save(args.output)
    except (AsrError, ValueError, OSError) as exc:
        return fail(str(exc))
    null = "n/a" if baseline.null_rate is None else f"{baseline.null_rate:.3f}"
    print(f"baseline {args.output}: {baseline.clips} clips from {args.manifest}, null rate {null}, "
          f"model {baseline.model_version or '(none)'}")
    for warning in baseline.problems(config.monitoring.drift_min_clips):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def run_replay(args: argparse.Namespace) -> int:
    """Replay a manifest to a server."""
    from asr_service.client import ReplayOptions, replay

    try:
        options = ReplayOptions(rate_qps=args.rate, gain_db=args.gain_db, noise_snr_db=args.noise_snr_db,
                                pitch_factor=args.pitch_factor, passes=args.passes, max_clips=args.max_clips,
                                concurrency=args.concurrency, vad_options=vad_options(args))
        summary = replay(args.manifest, args.server, options)
    except (AsrError, ValueError, OSError) as exc:
        return fail(str(exc))
    print(summary.line())
    return 0 if not summary.errors else 1
