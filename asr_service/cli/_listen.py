"""`asr listen`: speak to the service from a live microphone.

The microphone (or `--play FILE`, a file played at the pace of speech) feeds the client VAD's push
API; each clip is sent as its utterance ends, over one streaming session to `--server` or as one
in-process session (`LocalTranscriber.stream`), and its transcript printed as it arrives. The first
Ctrl-C stops the capture and flushes the utterance in progress (its transcript still prints); a second
one quits at once.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

import vad
from asr_service.cli._common import (
    ClientTLS,
    add_client_tls_flags,
    add_server_flags,
    add_vad_flags,
    client_tls,
    config_from_args,
    fail,
    vad_options,
)
from asr_service.cli._transcribe import print_result, print_revision
from asr_service.errors import AsrError, ConfigError

if TYPE_CHECKING:
    from asr_service.client import AsrClient, AudioInput, ClipResult, LiveClips, Revision

__all__ = ["register"]

_READY_TIMEOUT_S = 5.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `listen`."""
    parser = subparsers.add_parser(
        "listen",
        help="transcribe what you say into the microphone, clip by clip, as you speak",
        description="Capture the default (or --device) input, cut it into utterances with the client VAD and "
        "print each transcript with its latency as it arrives: through --server over one streaming session, "
        "else with an in-process engine. Ctrl-C stops and flushes the last utterance. Needs the 'mic' extra "
        "(sounddevice) and PortAudio (Debian: libportaudio2); --play needs neither.",
    )
    parser.add_argument("--server", metavar="HOST:PORT", help="send clips to this server (default: in-process)")
    add_client_tls_flags(parser)
    parser.add_argument("--device", metavar="N|NAME", help="input device index or part of its name "
                        "(default: the system's default input; see --list-devices)")
    parser.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    parser.add_argument("--play", metavar="AUDIO", help="play AUDIO in real time as if it came from the "
                        "microphone (no device needed: try the service, or test a setup)")
    parser.add_argument("--json", action="store_true", help="one JSON object per clip on stdout, nothing else")
    parser.add_argument("--revisions", action="store_true",
                        help="also print revisions, a second pass over blocks of clips heard together, by the "
                        "server or in-process (lines 'revised: ...'; with --json, objects with a 'revision' key)")
    add_vad_flags(parser)
    add_server_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Listen until Ctrl-C (or the end of --play's file); a device or server problem is one line."""
    from asr_service.client import FileInput, LiveClips, LocalTranscriber, MicrophoneInput

    if args.list_devices:
        return _list_devices()
    try:
        options = vad_options(args)
    except ValueError as exc:
        return fail(str(exc), 2)
    try:  # the input first: a missing microphone is said before a model loads
        source: AudioInput = FileInput(args.play) if args.play else MicrophoneInput(_device(args.device))
        live = LiveClips(source, options)
    except AsrError as exc:
        return fail(str(exc))
    try:
        transcriber: AsrClient | LocalTranscriber = (
            _remote(args.server, client_tls(args)) if args.server else LocalTranscriber(config_from_args(args))
        )
    except (ValueError, ConfigError) as exc:
        return fail(str(exc), 2)
    except AsrError as exc:  # the server is unreachable or not serving
        return fail(str(exc))
    where = f"server {args.server}" if args.server else "an in-process engine"
    try:
        with _first_ctrl_c_stops(live):
            _status(f"listening to {source.name} ({source.sample_rate_hz} Hz), transcribing with {where}; "
                    "Ctrl-C to stop")
            # One session either way (in-process as through a server): results come in clip order.
            sent: deque[vad.Clip] = deque()
            if args.revisions:
                shown: dict[str, vad.Clip] = {}  # result id -> its clip, for where a revision lies

                def on_revision(revision: Revision) -> None:
                    print_revision(sys.stdout, source.name, revision,
                                   [shown[r] for r in revision.result_ids if r in shown], as_json=args.json)

                results = transcriber.stream(_recording(live, sent), on_revision=on_revision,
                                             silence_s=lambda: live.silence_s)  # the clips so far revised in a pause
            else:
                results = transcriber.stream(_recording(live, sent))
            for result in results:
                clip = sent.popleft()
                if args.revisions:
                    shown[result.result_id] = clip
                _print(args, source, clip, result)
    except (vad.VadError, AsrError) as exc:
        return fail(str(exc))
    finally:
        live.close()
        transcriber.close()
    how = "end of input" if live.ended_by_input else "stopped"
    _status(f"{how}: {live.clips} clip(s) from {live.audio_s:.1f} s of audio")
    if live.dropped_s:
        _status(f"warning: dropped {live.dropped_s:.1f} s of audio: transcription fell behind the input")
    overflows = getattr(source, "overflows", 0)
    if overflows:
        _status(f"warning: the device reported {overflows} input overflow(s): audio was lost before capture")
    return 0


def _device(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.strip().isdigit() else value


def _remote(target: str, tls: ClientTLS) -> AsrClient:
    from asr_service.client import AsrClient

    client = AsrClient(target, **tls)
    try:
        client.wait_ready(timeout_s=_READY_TIMEOUT_S)
    except AsrError:
        client.close()
        raise
    return client


def _recording(live: LiveClips, sent: deque[vad.Clip]) -> Iterator[vad.Clip]:
    for clip in live:
        sent.append(clip)
        yield clip


def _print(args: argparse.Namespace, source: AudioInput, clip: vad.Clip, result: ClipResult) -> None:
    print_result(sys.stdout, source.name, clip, result, as_json=args.json)


def _status(message: str) -> None:
    print(f"asr listen: {message}", file=sys.stderr, flush=True)


@contextmanager
def _first_ctrl_c_stops(live: LiveClips) -> Iterator[None]:
    """The first SIGINT stops the capture (the last clip is still flushed and sent); the second quits."""

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if live.stop_requested:
            raise KeyboardInterrupt
        live.stop()  # only sets a flag: safe whatever the main thread was doing

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _list_devices() -> int:
    from asr_service.client import list_input_devices

    try:
        devices = list_input_devices()
    except AsrError as exc:
        return fail(str(exc))
    if not devices:
        print("no input devices found (PortAudio sees no microphone on this machine)")
        return 0
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.host_api}, {d.channels} ch, {d.default_sample_rate_hz:g} Hz)")
    print("* = the default input; pass --device N or part of a name")
    return 0
