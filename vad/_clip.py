"""What the segmenter hands out: one utterance clip and its statistics."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from vad._options import SAMPLE_RATE_HZ

__all__ = ["Clip", "ClipStats"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ClipStats:
    """Measurements of one clip, for the server's input-distribution monitoring.

    - ``speech_ratio``: voiced frames x frame length / clip length, in [0, 1].
    - ``pre_padding_ms`` / ``post_padding_ms``: unvoiced audio actually kept before the first and after
      the last voiced frame. Less than asked at the start or end of the stream, where a split cut the
      clip, or where the next utterance's speech begins sooner.
    - ``gain_db``: gain applied by normalisation (0.0 when it is off).
    - ``split``: True when either end of the clip is a cut made because the speech ran past
      ``max_clip_s``.
    - ``rms_dbfs`` / ``peak_dbfs``: level of the output pcm (after any gain); -120.0 for silence.
    """

    speech_ratio: float
    pre_padding_ms: float
    post_padding_ms: float
    gain_db: float
    split: bool
    rms_dbfs: float
    peak_dbfs: float


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class Clip:
    """One utterance: 16 kHz mono int16 audio with its place in the source stream.

    ``start_s``/``end_s`` bound the clip (padding included) in seconds from the start of the stream, at
    16 kHz sample resolution; ``speech_start_s``/``speech_end_s`` bound its voiced frames. ``pcm`` is
    read-only. Two clips are equal when every field is, the samples compared element-wise.
    """

    index: int
    pcm: NDArray[np.int16]
    start_s: float
    end_s: float
    speech_start_s: float
    speech_end_s: float
    stats: ClipStats

    @property
    def duration_s(self) -> float:
        """Length of the clip in seconds (``len(pcm) / 16000``)."""
        return self.pcm.shape[0] / SAMPLE_RATE_HZ

    def to_bytes(self) -> bytes:
        """The samples as raw little-endian signed 16-bit PCM (s16le)."""
        return self.pcm.astype("<i2", copy=False).tobytes()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Clip):
            return NotImplemented
        for field in fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            same = np.array_equal(mine, theirs) if field.name == "pcm" else mine == theirs
            if not same:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]
