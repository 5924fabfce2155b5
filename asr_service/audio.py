"""Server-side audio handling: decode a declared LINEAR16, FLAC or Ogg/Opus clip, measure it, bring it to
16 kHz mono (compressed clips through `asr_service.codecs`, with the same limits as LINEAR16).

Nothing here knows gRPC: the servicer passes the bytes and the declared format, and gets back
float32 samples for the engine plus the `AudioStats` that monitoring and the result carry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr

from asr_service.codecs import LINEAR16, decode_compressed
from asr_service.engines.base import SAMPLE_RATE_HZ
from asr_service.errors import ClipTooLongError, InvalidAudioError
from asr_service.pitch import estimate_pitch_hz

__all__ = [
    "SILENCE_DBFS",
    "AudioFormat",
    "AudioStats",
    "ClipLimits",
    "DecodedClip",
    "check_format",
    "decode_clip",
    "measure",
]

BYTES_PER_SAMPLE = 2  # LINEAR16
FULL_SCALE = 32768.0
# Digital silence has an RMS of -inf dBFS; report a finite floor so that means and histograms work.
SILENCE_DBFS = -120.0


@dataclass(frozen=True, kw_only=True)
class AudioFormat:
    """The format a client declared for its audio (`encoding`: one of `asr_service.codecs.ENCODINGS`)."""

    sample_rate_hz: int
    channels: int = 1
    encoding: str = LINEAR16


@dataclass(frozen=True, kw_only=True)
class AudioStats:
    """Measurements of a received clip, before resampling."""

    duration_s: float
    rms_dbfs: float
    peak_dbfs: float
    clipped_ratio: float  # share of samples at (or beyond) full scale
    sample_rate_hz: int
    pitch_hz: float | None = None  # median voice F0 (asr_service.pitch), for drift; None: not asked, or unvoiced


@dataclass(frozen=True, kw_only=True)
class DecodedClip:
    """A clip ready for the engine: 16 kHz mono float32 in [-1, 1], with its measurements."""

    samples: npt.NDArray[np.float32]
    stats: AudioStats


def _to_dbfs(value: float) -> float:
    return max(SILENCE_DBFS, 20.0 * float(np.log10(value))) if value > 0 else SILENCE_DBFS


def measure(pcm: npt.NDArray[np.int16], sample_rate_hz: int, channels: int = 1) -> AudioStats:
    """Duration, RMS and peak level in dBFS, and clipped share of interleaved int16 samples."""
    if pcm.size == 0:
        return AudioStats(
            duration_s=0.0,
            rms_dbfs=SILENCE_DBFS,
            peak_dbfs=SILENCE_DBFS,
            clipped_ratio=0.0,
            sample_rate_hz=sample_rate_hz,
        )
    as_float = pcm.astype(np.float32) / FULL_SCALE
    rms = float(np.sqrt(np.mean(np.square(as_float, dtype=np.float64))))
    peak = float(np.max(np.abs(as_float)))
    clipped = int(np.count_nonzero((pcm >= 32767) | (pcm <= -32768)))
    return AudioStats(
        duration_s=pcm.size / channels / sample_rate_hz,
        rms_dbfs=_to_dbfs(rms),
        peak_dbfs=_to_dbfs(peak),
        clipped_ratio=clipped / pcm.size,
        sample_rate_hz=sample_rate_hz,
    )


@dataclass(frozen=True, kw_only=True)
class ClipLimits:
    """What a clip may be: the server's accepted rates, channels and length."""

    accepted_rates_hz: tuple[int, ...]
    max_channels: int
    max_clip_s: float


def decode_clip(
    data: bytes, fmt: AudioFormat, limits: ClipLimits, *, allow_empty: bool = False, pitch: bool = False
) -> DecodedClip:
    """Validate bytes in `fmt`, measure them, and return 16 kHz mono float32 samples.

    `pitch` also estimates the voice pitch (`AudioStats.pitch_hz`, ~0.3-0.6 ms a clip): only drift
    monitoring reads it, so the server asks for it only when it has a drift baseline.

    Raises InvalidAudioError (naming the field) for an undeclared or unsupported rate, a bad
    channel count, empty audio (unless `allow_empty`) or a byte count that is not a whole number
    of frames, or compressed bytes that do not decode as the declared FLAC/Ogg/Opus file of the declared
    rate and channels; ClipTooLongError when the clip is longer than `max_clip_s` (a compressed one is
    decoded no further than that).
    """
    check_format(fmt, limits)
    if not data and not allow_empty:
        raise InvalidAudioError(f"audio: empty (0 bytes); send at least one {fmt.encoding.upper()} frame")
    pcm = _pcm(data, fmt, limits)
    duration_s = pcm.size / fmt.channels / fmt.sample_rate_hz
    if duration_s > limits.max_clip_s:
        raise ClipTooLongError(
            f"audio: clip is {'over ' if fmt.encoding != LINEAR16 else ''}{duration_s:.2f} s long; the server "
            f"accepts at most {limits.max_clip_s:g} s (split it on the client: the VAD's max_clip_s)"
        )
    stats = measure(pcm, fmt.sample_rate_hz, fmt.channels)
    samples = pcm.astype(np.float32) / FULL_SCALE
    if fmt.channels > 1:
        samples = samples.reshape(-1, fmt.channels).mean(axis=1, dtype=np.float32)
    if fmt.sample_rate_hz != SAMPLE_RATE_HZ and samples.size:
        samples = soxr.resample(samples, fmt.sample_rate_hz, SAMPLE_RATE_HZ, quality="HQ").astype(
            np.float32, copy=False
        )
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if pitch:
        stats = dataclasses.replace(stats, pitch_hz=estimate_pitch_hz(samples) or None)
    return DecodedClip(samples=samples, stats=stats)


def _pcm(data: bytes, fmt: AudioFormat, limits: ClipLimits) -> npt.NDArray[np.int16]:
    """The clip's interleaved int16 samples; a compressed clip is decoded to one frame past `max_clip_s` at most."""
    if fmt.encoding != LINEAR16:
        if not data:
            return np.zeros(0, dtype=np.int16)
        max_frames = int(limits.max_clip_s * fmt.sample_rate_hz)
        return decode_compressed(data, encoding=fmt.encoding, sample_rate_hz=fmt.sample_rate_hz,
                                 channels=fmt.channels, max_frames=max_frames)
    frame_bytes = BYTES_PER_SAMPLE * fmt.channels
    if len(data) % frame_bytes:
        raise InvalidAudioError(
            f"audio: {len(data)} bytes is not a whole number of LINEAR16 frames "
            f"({BYTES_PER_SAMPLE} bytes x {fmt.channels} channel(s) = {frame_bytes} bytes per frame)"
        )
    return np.frombuffer(data, dtype="<i2")


def check_format(fmt: AudioFormat, limits: ClipLimits) -> None:
    """Raise InvalidAudioError naming the field when `fmt` is undeclared or unsupported."""
    if fmt.sample_rate_hz == 0:
        raise InvalidAudioError("config.format.sample_rate_hz: not set; declare the rate of the audio")
    if fmt.sample_rate_hz not in limits.accepted_rates_hz:
        rates = ", ".join(str(r) for r in limits.accepted_rates_hz)
        raise InvalidAudioError(
            f"config.format.sample_rate_hz: {fmt.sample_rate_hz} Hz is not supported (accepted: {rates})"
        )
    if not 1 <= fmt.channels <= limits.max_channels:
        raise InvalidAudioError(
            f"config.format.channels: {fmt.channels} is not supported (accepted: 1..{limits.max_channels})"
        )
