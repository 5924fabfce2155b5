"""Compressed clips: FLAC and Ogg/Opus, encoded by clients and decoded by the server, both with libsndfile.

A compressed clip is one complete file, headers included (the proto's `AudioEncoding`). The server
checks the container and codec the bytes really hold against the declared encoding, the file's own
sample rate and channel count against the declared ones, and never decodes more than the clip length
it accepts plus one frame, whatever the header claims (a small file that would decode to hours of audio
is refused after `max_frames + 1` frames, not after decoding it all).

libsndfile sets an Opus bitrate through its compression level (`SFC_SET_COMPRESSION_LEVEL`, 0 = best
quality, 1 = smallest), which libsndfile 1.2.2 maps linearly onto 256 kbit/s .. 6 kbit/s per channel;
`opus_compression_level` inverts that map, measured here: level 0.9 gave 31.8 kbit/s and 0.95 gave
19.5 kbit/s on an 11 s clip (the Ogg pages add about 0.5-1 kbit/s on top of the codec's rate).

Nothing here knows gRPC; `soundfile` (and libsndfile) loads on the first compressed clip, not at import.
"""

from __future__ import annotations

import io
from typing import Final

import numpy as np
import numpy.typing as npt

from asr_service.errors import InvalidAudioError

__all__ = [
    "DEFAULT_OPUS_BITRATE_BPS",
    "ENCODINGS",
    "OPUS_SAMPLE_RATES_HZ",
    "decode_compressed",
    "encode",
    "opus_compression_level",
]

LINEAR16: Final = "linear16"
FLAC: Final = "flac"
OGG_OPUS: Final = "ogg_opus"
ENCODINGS: Final = (LINEAR16, FLAC, OGG_OPUS)
# The rates an Opus stream is encoded at; libsndfile refuses any other for writing.
OPUS_SAMPLE_RATES_HZ: Final = (8_000, 12_000, 16_000, 24_000, 48_000)
# bench/bench_codecs.py on the shared speech (docs/networks.md has the table): 24 kbit/s sends 10.3x fewer
# bytes than LINEAR16, and its WER change sits where 32 and 64 kbit/s sit (+1.1 points on the test half, 0.0
# over all 66 files; sending PCM moved by +-1 LSB moves WER by +-0.6), while 12 and 16 kbit/s lose words
# on the test half (+4.6, +2.6). The rule fixed before the run (the lowest rate within +0.5 points on the
# tune half) picked 16 kbit/s; one hallucinated file swings the tune half by several points either way.
DEFAULT_OPUS_BITRATE_BPS: Final = 24_000
_OPUS_MAX_BPS = 256_000  # libsndfile 1.2.2, per channel, at compression level 0
_OPUS_MIN_BPS = 6_000  # at compression level 1
# (container, subtype) libsndfile reports for each compressed encoding
_EXPECTED = {FLAC: ("FLAC", None), OGG_OPUS: ("OGG", "OPUS")}
_NAMES = {FLAC: "FLAC", OGG_OPUS: "OGG_OPUS"}
_MAGIC = {FLAC: b"fLaC", OGG_OPUS: b"OggS"}  # the first bytes of each file (RFC 9639, RFC 3533)


def opus_compression_level(bitrate_bps: int) -> float:
    """libsndfile's compression level (0..1) for an Opus bitrate per channel, in bits per second."""
    if not _OPUS_MIN_BPS <= bitrate_bps <= _OPUS_MAX_BPS:
        raise ValueError(f"opus_bitrate_bps: {bitrate_bps} is out of range (allowed: {_OPUS_MIN_BPS}.."
                         f"{_OPUS_MAX_BPS})")
    return (_OPUS_MAX_BPS - bitrate_bps) / (_OPUS_MAX_BPS - _OPUS_MIN_BPS)


def encode(pcm: bytes, *, sample_rate_hz: int, channels: int = 1, encoding: str,
           opus_bitrate_bps: int = DEFAULT_OPUS_BITRATE_BPS) -> bytes:
    """LINEAR16 `pcm` (interleaved channels) as one complete file in `encoding` ("linear16": unchanged).

    ValueError for an unknown encoding, or an Opus rate libsndfile does not write (OPUS_SAMPLE_RATES_HZ)."""
    if encoding == LINEAR16 or not pcm:
        return pcm  # an empty clip stays empty: the server answers it as one (EMPTY_AUDIO on a stream)
    if encoding not in _EXPECTED:
        raise ValueError(f"encoding: {encoding!r} is not one of {', '.join(ENCODINGS)}")
    if encoding == OGG_OPUS and sample_rate_hz not in OPUS_SAMPLE_RATES_HZ:
        raise ValueError(f"sample_rate_hz: Opus encodes {', '.join(map(str, OPUS_SAMPLE_RATES_HZ))} Hz, "
                         f"not {sample_rate_hz}; resample first")
    import soundfile

    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)
    out = io.BytesIO()
    if encoding == FLAC:
        soundfile.write(out, samples, sample_rate_hz, format="FLAC", subtype="PCM_16")
    else:
        soundfile.write(out, samples, sample_rate_hz, format="OGG", subtype="OPUS",
                        compression_level=opus_compression_level(opus_bitrate_bps))
    return out.getvalue()


def decode_compressed(data: bytes, *, encoding: str, sample_rate_hz: int, channels: int,
                      max_frames: int) -> npt.NDArray[np.int16]:
    """Interleaved int16 samples of one complete FLAC or Ogg/Opus file.

    InvalidAudioError (naming the field) when the bytes do not decode as the declared encoding, or
    the file's rate or channel count differs from the declared one; `max_frames + 1` frames at most
    are decoded, so the caller sees a clip that is too long without it being decoded in full."""
    import soundfile

    name = _NAMES[encoding]
    magic = _MAGIC[encoding]
    if not data.startswith(magic):  # before libsndfile, which would try every format it knows on any bytes
        raise InvalidAudioError(f"audio: {len(data)} bytes that are not a {name} file (it starts with "
                                f"{magic!r}, these start with {data[:4]!r})")
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as sound:
            container, subtype = _EXPECTED[encoding]
            if sound.format != container or (subtype is not None and sound.subtype != subtype):
                raise InvalidAudioError(f"audio: the bytes are {sound.format}/{sound.subtype}, not the declared "
                                        f"config.format.encoding {name}")
            if sound.samplerate != sample_rate_hz:
                raise InvalidAudioError(f"config.format.sample_rate_hz: {sample_rate_hz} Hz declared, but the "
                                        f"{name} file is {sound.samplerate} Hz")
            if sound.channels != channels:
                raise InvalidAudioError(f"config.format.channels: {channels} declared, but the {name} file has "
                                        f"{sound.channels}")
            declared = sound.frames  # from the header; unknown (0 or huge) in a stream that did not say
            pcm = sound.read(frames=max_frames + 1, dtype="int16", always_2d=True)
    except (RuntimeError, TypeError, ValueError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        raise InvalidAudioError(f"audio: {len(data)} bytes that do not decode as {name} "
                                f"({_reason(exc)})") from exc
    if 0 < len(pcm) < min(declared, max_frames + 1):
        raise InvalidAudioError(f"audio: the {name} file is truncated: its header says {declared} frames, "
                                f"{len(pcm)} decode")
    return np.ascontiguousarray(pcm.reshape(-1))


def _reason(exc: Exception) -> str:
    """libsndfile's own words, without soundfile's "Error opening <_io.BytesIO ...>: " prefix."""
    text = str(exc)
    return text.rpartition(": ")[2] or type(exc).__name__
