"""`asr demo`: a server with the embedded model on loopback, the shipped recording through the client VAD.

The recording is real speech (`data/jfk.wav`, public domain; see `data/SOURCES.md`); its reference
transcript sits beside it, and the demo prints the reference, the transcript and the WER. Any AUDIO the
user names gets the same treatment when a `.txt` with the same stem sits beside it.
"""

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

__all__ = ["SAMPLE", "reference_of", "register", "sample_path"]

SAMPLE = "jfk.wav"  # J.F. Kennedy, 1961 (public domain); its reference transcript is jfk.txt beside it


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo`."""
    parser = subparsers.add_parser(
        "demo",
        help="start a server on loopback and stream the shipped recording through the client VAD",
        description="Start a server with the embedded model on loopback, send a real recording (J.F. Kennedy, "
        "1961, public domain) through the client VAD, print each transcript, the reference, the WER and the "
        "server's summary, and shut down.",
    )
    parser.add_argument("audio", nargs="?", help="audio file to use instead of the shipped recording "
                        "(a .txt with the same stem beside it is taken as its reference)")
    parser.add_argument("--realtime", action="store_true", help="feed the audio at the speed it would be spoken")
    add_vad_flags(parser)
    add_server_flags(parser)
    parser.set_defaults(func=run)


def sample_path() -> Path:
    """The recording shipped with the package."""
    return Path(str(resources.files("asr_service") / "data" / SAMPLE))


def reference_of(audio: Path) -> str | None:
    """The reference transcript beside `audio` (same stem, `.txt`), or None when there is none."""
    try:
        text = audio.with_suffix(".txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return " ".join(text.split()) or None


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
            texts = []
            for clip in _clips(path, options, realtime=args.realtime):
                result = client.recognize_clip(clip)
                print_result(sys.stdout, path.name, clip, result, as_json=False)
                texts.append(result.text)
    except (vad.VadError, AsrError) as exc:
        return fail(str(exc))
    finally:
        # Everything since the server started: the monitor's recent results keep the last 30 minutes.
        summary = server.monitor.recent.summary(time.time() - started + 1.0)
        background.stop()
    reference = reference_of(path)
    if reference is not None:
        _print_score(reference, " ".join(t for t in texts if t))
    _print_summary(summary, config.budget_ms)
    return 0


def _print_score(reference: str, transcript: str) -> None:
    from asr_service.evaluation.normalizers import DEFAULT_NORMALIZER, get_normalizer
    from asr_service.evaluation.scoring import score

    normalize = get_normalizer(DEFAULT_NORMALIZER)  # the same scoring as `asr eval`
    words = score(normalize(reference), normalize(transcript)).words
    rate = f"{words.rate:.1%}" if words.rate is not None else "n/a (empty reference)"
    print(
        f"\nreference   {reference}"
        f"\ntranscript  {transcript or '<nothing>'}"
        f"\nWER         {rate} ({words.errors} error(s) in {words.reference_length} reference words, "
        f"after the {DEFAULT_NORMALIZER} normaliser, as asr eval scores)"
    )


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
