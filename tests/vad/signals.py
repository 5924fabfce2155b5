"""Synthetic signals with exactly known voiced frames, for the energy detector at 30 ms frames."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vad import Clip, Segmenter, VadOptions

F = 480  # samples in a 30 ms frame at 16 kHz
TONE_AMPLITUDE = 8000  # about -15 dBFS RMS: far above the energy detector's -40 dBFS
# 500 Hz is 15 whole cycles per 30 ms frame, so every tone frame has the same energy.
TONE_HZ = 500


def energy_options(**changes: object) -> VadOptions:
    """Energy detector, 30 ms frames, the default paddings (300/300), silence 400 ms, speech 250 ms."""
    fields: dict[str, object] = {"detector": "energy", "frame_ms": 30}
    fields.update(changes)
    return VadOptions(**fields)  # type: ignore[arg-type]


def tone(n_samples: int, amplitude: float = TONE_AMPLITUDE) -> NDArray[np.int16]:
    """A sine at TONE_HZ, one frame computed and tiled so that every whole frame is bit-identical."""
    one_frame = np.rint(amplitude * np.sin(2 * np.pi * TONE_HZ * np.arange(F) / 16000.0)).astype(np.int16)
    return np.tile(one_frame, -(-n_samples // F))[:n_samples]


def bursts(
    total_frames: int, spans: list[tuple[int, int]], amplitude: float = TONE_AMPLITUDE
) -> NDArray[np.int16]:
    """Digital silence of ``total_frames`` frames with tone over frames ``[a, b)`` for each span."""
    pcm = np.zeros(total_frames * F, dtype=np.int16)
    for first, stop in spans:
        pcm[first * F : stop * F] = tone((stop - first) * F, amplitude)
    return pcm


def segment(pcm: NDArray[np.int16], options: VadOptions, chunk: int | None = None) -> list[Clip]:
    """All clips of ``pcm`` pushed as one block (or in ``chunk``-sample pieces) and flushed."""
    segmenter = Segmenter(options)
    clips: list[Clip] = []
    step = chunk or max(pcm.size, 1)
    for pos in range(0, pcm.size, step):
        clips += segmenter.push(pcm[pos : pos + step])
    return clips + segmenter.flush()


def bounds(clip: Clip) -> tuple[int, int, int, int]:
    """(start, end, speech start, speech end) of a clip in samples."""
    return (
        round(clip.start_s * 16000),
        round(clip.end_s * 16000),
        round(clip.speech_start_s * 16000),
        round(clip.speech_end_s * 16000),
    )
