"""`asr demo`: a server with the embedded model on loopback, the shipped sample through the client VAD."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import vad
from asr_service.cli._common import add_server_flags, add_vad_flags, config_from_args, fail, vad_options
from asr_service.cli._transcribe import print_result
from asr_service.errors import AsrError

if TYPE_CHECKING:
    from asr_service.monitoring import WindowSummary

__all__ = ["SAMPLE", "register"]

SAMPLE = "sample.wav"  # generated with espeak-ng; its words are in sample.txt beside it


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo`."""
    parser = subparsers.add_parser(
        "demo",
        help="start a server on loopback and stream the shipped speech sample through the client VAD",
    )
    parser.add_argument("audio", nargs="?", help="audio file to use instead of the shipped sample")
    parser.add_argument("--realtime", action="store_true", help="feed the audio at the speed it would be spoken")
    add_vad_flags(parser)
    add_server_flags(parser)
    parser.set_defaults(func=run)


def sample_path() -> Path:
    """The speech sample shipped with the package."""
    return Path(str(resources.files("asr_service") / "data" / SAMPLE))


def run(args: argparse.Namespace) -> int:
    """Serve, stream, print each transcript and the server's summary, shut down."""
    from asr_service.client import AsrClient  # the server and gRPC load only when the demo runs
    from asr_service.server import BackgroundServer

    path = Path(args.audio) if args.audio else sample_path()
    try:
        options = vad_options(args)
        config = config_from_args(args, host="127.0.0.1", port=0)
        background = BackgroundServer(config)
    except (ValueError, AsrError) as exc:
        return fail(str(exc), 2)
    port, server = background.port, background.server
    started = time.time()
    print(f"starting the server on 127.0.0.1:{port} with model {config.engine.model!r} ...", flush=True)
    try:
        background.start()
    except AsrError as exc:  # the model did not load; start() has shut the server down
        return fail(str(exc))
    try:
        with AsrClient(f"127.0.0.1:{port}") as client:
            client.wait_ready()
            info = client.list_models().models[0]
            print(f"serving {info.model_id} ({info.model_version}); streaming {path} through the client VAD\n")
            for clip in _clips(path, options, realtime=args.realtime):
                print_result(sys.stdout, path.name, clip, client.recognize_clip(clip), as_json=False)
    except (vad.VadError, AsrError) as exc:
        return fail(str(exc))
    finally:
        # Everything since the server started: the monitor's recent results keep the last 30 minutes.
        summary = server.monitor.recent.summary(time.time() - started + 1.0)
        background.stop()
    _print_summary(summary, config.budget_ms)
    return 0


def _clips(path: Path, options: vad.VadOptions, *, realtime: bool) -> Iterator[vad.Clip]:
    if not realtime:
        yield from vad.iter_file_clips(path, options)
        return
    # Push the audio in 100 ms chunks at the pace of speech, as a microphone would.
    audio = vad.read_audio(path)
    segmenter = vad.Segmenter(options)
    step = vad.SAMPLE_RATE_HZ // 10
    for i in range(0, audio.size, step):
        time.sleep(0.1)
        yield from segmenter.push(audio[i : i + step])
    yield from segmenter.flush()


def _print_summary(s: WindowSummary, budget_ms: float) -> None:
    if not s.requests:
        print("\nserver summary: no requests\nserver stopped cleanly.")
        return
    nulls = ", ".join(f"{k}={v}" for k, v in s.null_reasons.items()) or "none"
    print(
        "\nserver summary:"
        f"\n  requests            {s.requests} ({s.audio_s:.1f} s of audio)"
        f"\n  latency p50 / p95   {s.latency_p50_ms:.0f} ms / {s.latency_p95_ms:.0f} ms"
        f" (budget {budget_ms:.0f} ms, exceeded {s.budget_exceeded} time(s))"
        f"\n  inference p50       {s.inference_p50_ms:.0f} ms; queue wait p95 {s.queue_wait_p95_ms:.1f} ms"
        f"\n  null transcripts    {s.null_rate:.0%} ({nulls})"
        f"\n  full-window fallbacks {s.fallbacks}"
        "\nserver stopped cleanly."
    )
