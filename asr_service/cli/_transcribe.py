"""`asr transcribe`: run the client VAD on audio files and transcribe each clip, remotely or in-process."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import TextIO

import vad
from asr_service.cli._common import (
    add_client_tls_flags,
    add_server_flags,
    add_vad_flags,
    client_tls,
    config_from_args,
    fail,
    vad_options,
)
from asr_service.client import (
    SERVER_REVISIONS_PACE,
    ClipResult,
    LocalTranscriber,
    Revision,
    SessionTranscriber,
    Transcriber,
    paced,
)
from asr_service.codecs import DEFAULT_OPUS_BITRATE_BPS
from asr_service.errors import AsrError

__all__ = ["clip_record", "print_result", "print_revision", "register"]

_ENCODINGS = {"linear16": "linear16", "flac": "flac", "opus": "ogg_opus"}  # --encoding -> AsrClient(encoding=)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `transcribe`."""
    parser = subparsers.add_parser(
        "transcribe",
        help="transcribe audio files through the client VAD",
        description="Split each AUDIO file into utterance clips with the client VAD and transcribe them: "
        "through a server with --server, else in this process. AUDIO '-' reads raw s16le PCM from stdin.",
    )
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio file(s), or - for raw PCM on stdin")
    parser.add_argument("--server", metavar="HOST:PORT", help="send clips to this server (default: in-process)")
    add_client_tls_flags(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per clip on stdout, nothing else")
    parser.add_argument("--stream", action="store_true",
                        help="one session per file (through --server, one StreamingRecognize call)")
    parser.add_argument("--revisions", action="store_true",
                        help="one session per file (as --stream) that also gets revisions, a second pass over "
                        "blocks of clips heard together, by the server or in-process: printed after the clips "
                        "they replace (lines 'revised: ...'; with --json, objects with a 'revision' key); "
                        "through --server a file's clips go at 4x the speed of speech, so that the server's "
                        "second passes get the time live speech leaves them")
    parser.add_argument("--language", default="", metavar="CODE",
                        help="language spoken: an ISO 639-1 code the model transcribes, or 'auto' to detect it "
                        "(a multilingual model such as base; default: English)")
    parser.add_argument("--encoding", choices=("linear16", "flac", "opus"), default="linear16",
                        help="how clips travel to --server: raw PCM (default), FLAC (lossless, ~1.8x fewer bytes) "
                        "or Ogg/Opus (lossy, for mobile links; README, 'Compressed audio')")
    parser.add_argument("--opus-kbps", type=float, default=DEFAULT_OPUS_BITRATE_BPS / 1000, metavar="KBIT_S",
                        help=f"Opus bitrate with --encoding opus, 6..256 kbit/s (default "
                        f"{DEFAULT_OPUS_BITRATE_BPS // 1000})")
    parser.add_argument("--rate", type=int, default=16_000, help="sample rate of PCM on stdin (default 16000)")
    parser.add_argument("--channels", type=int, default=1, help="channels of PCM on stdin (default 1)")
    add_vad_flags(parser)
    add_server_flags(parser)
    parser.set_defaults(func=run)


def clip_record(path: str, clip: vad.Clip, result: ClipResult) -> dict[str, object]:
    """The JSON object printed for one clip (the only place its figures are rounded)."""
    latency, audio = result.latency, result.audio
    return {
        "file": path,
        "clip_id": result.clip_id,
        "start_s": round(clip.start_s, 3),
        "end_s": round(clip.end_s, 3),
        "text": result.text,
        "confidence": round(result.confidence, 4),
        "null_reason": result.null_reason.to_json(),
        "language": result.language,
        "model_id": result.model_id,
        "model_version": result.model_version,
        "latency_ms": {"queue_wait": round(latency.queue_wait_ms, 2), "inference": round(latency.inference_ms, 2),
                       "total": round(latency.server_total_ms, 2), "budget": round(latency.budget_ms, 2),
                       "round_trip": round(result.round_trip_ms, 2)},
        "budget_exceeded": result.budget_exceeded,
        "audio": {"duration_s": round(audio.duration_s, 3), "rms_dbfs": round(audio.rms_dbfs, 2),
                  "peak_dbfs": round(audio.peak_dbfs, 2), "clipped_ratio": round(audio.clipped_ratio, 5)},
        "vad": {
            "speech_ratio": round(clip.stats.speech_ratio, 3),
            "pre_padding_ms": clip.stats.pre_padding_ms,
            "post_padding_ms": clip.stats.post_padding_ms,
            "gain_db": round(clip.stats.gain_db, 2),
            "split": clip.stats.split,
        },
    }


def _clips(path: str, options: vad.VadOptions, args: argparse.Namespace) -> Iterator[vad.Clip]:
    if path == "-":
        return vad.iter_pcm_clips(sys.stdin.buffer, options, sample_rate_hz=args.rate, channels=args.channels)
    return vad.iter_file_clips(path, options)


def _results(
    transcriber: Transcriber, path: str, options: vad.VadOptions, args: argparse.Namespace
) -> Iterator[tuple[vad.Clip, ClipResult]]:
    if not (args.stream or args.revisions):
        for clip in _clips(path, options, args):
            yield clip, transcriber.recognize_clip(clip)
        return
    assert isinstance(transcriber, SessionTranscriber)  # AsrClient or LocalTranscriber: one session per file
    clips = list(_clips(path, options, args))
    if not args.revisions:
        yield from zip(clips, transcriber.stream(clips), strict=True)
        return
    shown: dict[str, vad.Clip] = {}  # result id -> its clip, for where a revision lies

    def on_revision(revision: Revision) -> None:
        print_revision(sys.stdout, path, revision, [shown[r] for r in revision.result_ids if r in shown],
                       as_json=args.json)

    # through a server, a file's clips (stdin's too: read to its end first) at the pace that leaves the server's
    # second passes time; in-process none is dropped
    sent = paced(clips, SERVER_REVISIONS_PACE) if args.server else clips
    for clip, result in zip(clips, transcriber.stream(sent, on_revision=on_revision), strict=True):
        shown[result.result_id] = clip
        yield clip, result


def print_result(out: TextIO, path: str, clip: vad.Clip, result: ClipResult, *, as_json: bool) -> None:
    """One line per clip: JSON, or a human-readable line."""
    if as_json:
        # absolute, so that the lines can be read (`asr label import`) from any folder
        where = path if path == "-" else os.path.abspath(path)
        out.write(json.dumps(clip_record(where, clip, result), ensure_ascii=False) + "\n")
    else:
        text = result.text or f"<{result.null_reason.name}>"
        lat = result.latency
        out.write(
            f"{path} [{clip.start_s:6.2f}-{clip.end_s:6.2f}s] {text}  "
            f"(server {lat.server_total_ms:.0f} ms, inference {lat.inference_ms:.0f} ms, "
            f"round trip {result.round_trip_ms:.0f} ms, confidence {result.confidence:.2f})\n"
        )
    out.flush()


def print_revision(out: TextIO, path: str, revision: Revision, clips: list[vad.Clip], *, as_json: bool) -> None:
    """One line for a revision of clips printed before (asr_service/revisions.py): where they lie, the new text."""
    start, end = (clips[0].start_s, clips[-1].end_s) if clips else (float("nan"), float("nan"))
    if as_json:
        where = path if path == "-" else os.path.abspath(path)
        out.write(json.dumps({"file": where, "revision": {
            "result_ids": list(revision.result_ids), "clip_ids": [str(c.index) for c in clips],
            "start_s": round(start, 3), "end_s": round(end, 3), "text": revision.text,
            "inference_ms": round(revision.inference_ms, 2)}}, ensure_ascii=False) + "\n")
    else:
        out.write(f"{path} [{start:6.2f}-{end:6.2f}s] revised: {revision.text}  "
                  f"({len(revision.result_ids)} clips heard together)\n")
    out.flush()


def run(args: argparse.Namespace) -> int:
    """Transcribe every file; a bad file or an unreachable server ends with a one-line error."""
    from asr_service.client import AsrClient  # gRPC loads only for a command that runs

    try:
        options = vad_options(args)
        transcriber: Transcriber = (
            AsrClient(args.server, language=args.language, encoding=_ENCODINGS[args.encoding],
                      opus_bitrate_bps=round(args.opus_kbps * 1000), **client_tls(args)) if args.server
            else LocalTranscriber(config_from_args(args), language=args.language)
        )
    except (ValueError, AsrError) as exc:
        return fail(str(exc), 2)
    status = 0
    try:
        for path in args.audio:
            try:
                for clip, result in _results(transcriber, path, options, args):
                    print_result(sys.stdout, path, clip, result, as_json=args.json)
            except vad.VadError as exc:
                status = fail(str(exc))
            except AsrError as exc:  # the server is gone or refused: the next file would fail too
                return fail(str(exc))
    finally:
        transcriber.close()
    return status
