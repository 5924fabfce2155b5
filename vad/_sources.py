"""Audio sources: decode files to 16 kHz mono int16, and segment files or raw PCM streams.

This is the one place that talks to soundfile; its errors become ``VadError`` naming the path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import soundfile
import soxr
from numpy.typing import NDArray

from vad._clip import Clip
from vad._convert import downmix, float_to_int16
from vad._errors import VadError
from vad._options import SAMPLE_RATE_HZ, VadOptions
from vad._segmenter import Segmenter

__all__ = ["DEFAULT_CHUNK_BYTES", "iter_file_clips", "iter_pcm_clips", "read_audio"]

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 3200
"""Bytes read per step by ``iter_pcm_clips``: 100 ms of 16 kHz mono s16le, low latency for live input."""

_FILE_BLOCK_SAMPLES = 10 * SAMPLE_RATE_HZ  # iter_file_clips pushes 10 s at a time, so clips come lazily


def read_audio(path: str | os.PathLike[str]) -> NDArray[np.int16]:
    """Decode an audio file (anything soundfile reads: wav, flac, ogg, ...) to 16 kHz mono int16.

    Channels are averaged; other rates are resampled with ``soxr.resample`` (quality "HQ"). A 16 kHz
    mono file is read as int16 directly, bit-exact. A missing or undecodable file raises ``VadError``
    naming the path and the reason.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise VadError(f"cannot read audio {name!r}: no such file")
    if os.path.isdir(name):
        raise VadError(f"cannot read audio {name!r}: is a directory")
    try:
        info = soundfile.info(name)
        if info.samplerate == SAMPLE_RATE_HZ and info.channels == 1:
            exact, _ = soundfile.read(name, dtype="int16", always_2d=False)
            return np.ascontiguousarray(exact, dtype=np.int16)
        data, rate = soundfile.read(name, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, OSError, TypeError, ValueError) as exc:
        raise VadError(f"cannot read audio {name!r}: {exc}") from exc
    mono = downmix(data)
    if rate != SAMPLE_RATE_HZ:
        mono = soxr.resample(mono, rate, SAMPLE_RATE_HZ, quality="HQ")
    logger.debug("read %s: %d Hz, %d channel(s) -> %d samples", name, rate, data.shape[1], mono.shape[0])
    return float_to_int16(mono)


def iter_file_clips(path: str | os.PathLike[str], options: VadOptions | None = None) -> Iterator[Clip]:
    """Clips of an audio file (decoded with ``read_audio``), in order, as a lazy iterator."""
    pcm = read_audio(path)
    segmenter = Segmenter(options)
    for start in range(0, pcm.shape[0], _FILE_BLOCK_SAMPLES):
        yield from segmenter.push(pcm[start : start + _FILE_BLOCK_SAMPLES])
    yield from segmenter.flush()


def iter_pcm_clips(
    stream: BinaryIO,
    options: VadOptions | None = None,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    channels: int = 1,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[Clip]:
    """Clips of raw s16le PCM read from a binary stream (a file, a pipe, ``sys.stdin.buffer``).

    Reads ``chunk_bytes`` at a time until EOF, yielding each clip as soon as it is complete. A read
    that ends mid-sample is carried over; a stream that ends with an odd byte count raises ``VadError``.
    """
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 2:
        raise VadError(f"chunk_bytes must be an int >= 2; got {chunk_bytes!r}")
    segmenter = Segmenter(options, input_sample_rate_hz=sample_rate_hz, input_channels=channels)
    odd = b""
    while True:
        data = stream.read(chunk_bytes)
        if not data:
            break
        if odd:
            data = odd + data
        odd = data[-1:] if len(data) % 2 else b""
        yield from segmenter.push(data[: len(data) - len(odd)])
    if odd:
        raise VadError("PCM stream ended with an odd number of bytes (s16le needs 2 per sample)")
    yield from segmenter.flush()
