"""Client VAD clips as the server sees them: the audio decoded and measured by the server's own code,
and the VAD's figures as the protocol carries them."""

from __future__ import annotations

import vad
from asr_service.audio import AudioFormat, ClipLimits, DecodedClip, decode_clip
from asr_service.recognizer import VadStats

__all__ = ["clip_vad_stats", "decode_vad_clip"]


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
