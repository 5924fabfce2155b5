"""Client VAD clips as the server sees them: the audio decoded and measured by the server's own code,
and the VAD's figures as the protocol carries them; and clips of a file given at the pace of speech."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import vad
from asr_service.audio import AudioFormat, ClipLimits, DecodedClip, decode_clip
from asr_service.recognizer import VadStats

__all__ = ["SERVER_REVISIONS_PACE", "clip_vad_stats", "decode_vad_clip", "paced"]

SERVER_REVISIONS_PACE = 4.0
"""A file's clips sent to a server in a session that asks for revisions go at this many times the speed of
speech (`paced`; `asr transcribe --server --revisions`, `asr eval --server --revisions`), so that the
server's second passes get the time between clips that live speech leaves them. Sent back to back, they
queue behind the clips and the server drops those past `Recognizer.MAX_REVISIONS_WAITING`: the generated
lecture scored 27.74 % so (in 8 s), 20.00 % at 4x (in 38 s; in-process, where none is dropped, 20.00 %
too; docs/vad-path.md). 4: as `bench/bench_vad_path.py --pace`."""


def decode_vad_clip(clip: vad.Clip, limits: ClipLimits, *, pitch: bool = False) -> DecodedClip:
    """A client VAD clip (16 kHz mono PCM) as the server decodes and measures a request's audio."""
    return decode_clip(clip.to_bytes(), AudioFormat(sample_rate_hz=vad.SAMPLE_RATE_HZ), limits, allow_empty=True,
                       pitch=pitch)


def clip_vad_stats(clip: vad.Clip) -> VadStats:
    """What the client VAD measured for `clip`, as the protocol carries it (whole milliseconds)."""
    s = clip.stats
    return VadStats(
        speech_ratio=s.speech_ratio,
        pre_padding_ms=int(s.pre_padding_ms),
        post_padding_ms=int(s.post_padding_ms),
        gain_db=s.gain_db,
        split=s.split,
        start_s=clip.start_s,
    )


def paced(clips: Iterable[vad.Clip], speed: float) -> Iterator[vad.Clip]:
    """`clips` of a file, each given no sooner than where its utterance ends in the file at `speed` times the
    speed of speech (counted from the first `next`): a recording sent as a live source would send it, faster."""
    if speed <= 0:
        raise ValueError(f"paced: speed must be above 0 (got {speed})")
    start = time.perf_counter()
    for clip in clips:
        time.sleep(max(0.0, start + clip.end_s / speed - time.perf_counter()))
        yield clip
