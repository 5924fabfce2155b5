"""Framing: a growable int16 sample buffer addressed by absolute stream position.

The segmenter appends whatever each ``push`` brings, reads fixed-length frames as zero-copy 2-D views
(``(n_frames, frame_samples)``), slices clips out by absolute sample index, and drops what no clip can
need any more. Appends are amortised O(chunk): the backing array doubles when full and is compacted in
place only when more than half of it is dead, so no per-frame allocation happens anywhere.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["SampleBuffer"]

_INITIAL_CAPACITY = 1 << 16


class SampleBuffer:
    """int16 samples ``[start, end)`` of a stream, where ``start`` moves forward as data is discarded."""

    def __init__(self) -> None:
        self._data = np.zeros(_INITIAL_CAPACITY, dtype=np.int16)
        self._head = 0  # index in _data of stream sample `start`
        self._size = 0
        self._start = 0

    @property
    def start(self) -> int:
        """Absolute index of the oldest sample still held."""
        return self._start

    @property
    def end(self) -> int:
        """Absolute index one past the newest sample (= samples appended so far)."""
        return self._start + self._size

    def append(self, samples: NDArray[np.int16]) -> None:
        """Add samples at the end of the stream."""
        n = samples.shape[0]
        if n == 0:
            return
        if self._head + self._size + n > self._data.shape[0]:
            self._make_room(n)
        tail = self._head + self._size
        self._data[tail : tail + n] = samples
        self._size += n

    def _make_room(self, n: int) -> None:
        needed = self._size + n
        if needed <= self._data.shape[0] // 2:
            # Enough dead space at the front: slide the live part down.
            self._data[: self._size] = self._data[self._head : self._head + self._size]
        else:
            capacity = self._data.shape[0]
            while capacity < 2 * needed:
                capacity *= 2
            grown = np.zeros(capacity, dtype=np.int16)
            grown[: self._size] = self._data[self._head : self._head + self._size]
            self._data = grown
        self._head = 0

    def view(self, start: int, stop: int) -> NDArray[np.int16]:
        """Samples ``[start, stop)`` (absolute) as a view; valid until the next append or discard."""
        if not self._start <= start <= stop <= self.end:
            raise IndexError(f"samples [{start}, {stop}) not held (buffer has [{self._start}, {self.end}))")
        offset = self._head - self._start
        return self._data[offset + start : offset + stop]

    def frames(self, start: int, n_frames: int, frame_samples: int) -> NDArray[np.int16]:
        """``n_frames`` consecutive frames from absolute ``start`` as a 2-D view (no copy)."""
        return self.view(start, start + n_frames * frame_samples).reshape(n_frames, frame_samples)

    def discard_before(self, position: int) -> None:
        """Forget samples before absolute ``position`` (no-op if already gone)."""
        drop = min(max(position - self._start, 0), self._size)
        self._head += drop
        self._size -= drop
        self._start += drop
