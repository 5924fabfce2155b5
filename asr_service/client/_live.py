"""`LiveClips`: the client VAD over a live input, clip by clip as each utterance ends.

The input's thread only queues blocks; the thread that iterates runs the VAD's push API on them and
yields each clip as soon as the VAD closes it. `stop()` (safe to call from a signal handler: it only
sets a flag) ends the capture; the blocks already captured are still segmented and the utterance in
progress is flushed as the last clip, so stopping never loses what was said.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import vad
from asr_service.client._capture import AudioInput

__all__ = ["DEFAULT_MAX_BACKLOG_S", "LiveClips"]

DEFAULT_MAX_BACKLOG_S = 30.0
"""Audio the input may run ahead of the VAD and the transcriber before blocks are dropped (and counted)."""

class LiveClips:
    """Clips from a live `AudioInput` through the client VAD; iterate once.

    If the consumer falls more than `max_backlog_s` behind the input (a transcriber slower than speech),
    new blocks are dropped and counted in `dropped_s` rather than held without bound.
    """

    def __init__(
        self,
        source: AudioInput,
        options: vad.VadOptions | None = None,
        *,
        max_backlog_s: float = DEFAULT_MAX_BACKLOG_S,
        poll_s: float = 0.05,
    ) -> None:
        if not max_backlog_s > 0:
            raise ValueError(f"max_backlog_s: {max_backlog_s!r} is out of range (allowed: > 0)")
        self.source = source
        self._segmenter = vad.Segmenter(
            options, input_sample_rate_hz=source.sample_rate_hz, input_channels=source.channels
        )
        self._bytes_per_s = source.sample_rate_hz * source.channels * 2
        self._max_backlog = int(max_backlog_s * self._bytes_per_s)
        self._poll_s = poll_s
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()  # None: the input ended
        self._lock = threading.Lock()  # guards the backlog figures between the input's thread and ours
        self._backlog = 0
        self._dropped = 0
        self._stop_requested = False
        self._iterated = False
        self.clips = 0
        """Clips yielded so far."""
        self.ended_by_input = False
        """The input's audio ended by itself (end of file, device gone), not by `stop()`."""

    @property
    def stop_requested(self) -> bool:
        """`stop()` has been called."""
        return self._stop_requested

    @property
    def audio_s(self) -> float:
        """Seconds of audio the VAD has received."""
        return self._segmenter.position_s

    @property
    def silence_s(self) -> float:
        """Seconds the speaker has been silent, as far as the VAD has heard (0 while they speak):
        `AsrClient.stream(silence_s=...)` tells the server of a pause with it."""
        return self._segmenter.silence_s

    @property
    def dropped_s(self) -> float:
        """Seconds of captured audio dropped because the consumer fell behind."""
        return self._dropped / self._bytes_per_s

    def stop(self) -> None:
        """End the capture; the iteration then flushes the utterance in progress and finishes."""
        self._stop_requested = True

    def close(self) -> None:
        """Stop the input now (also when the iteration was abandoned)."""
        self._stop_requested = True
        self.source.stop()

    def __iter__(self) -> Iterator[vad.Clip]:
        if self._iterated:
            raise RuntimeError("LiveClips can be iterated once; make a new one per session")
        self._iterated = True
        self.source.start(self._on_block, self._on_end)
        try:
            while not self._stop_requested:
                try:
                    block = self._queue.get(timeout=self._poll_s)
                except queue.Empty:
                    continue
                if block is None:
                    self.ended_by_input = True
                    break
                yield from self._push(block)
        finally:
            self.source.stop()  # returns after the input's last block has been queued
        # What was captured before the stop counts: segment it, then close the utterance in progress.
        while True:
            try:
                block = self._queue.get_nowait()
            except queue.Empty:
                break
            if block is not None:
                yield from self._push(block)
        for clip in self._segmenter.flush():
            self.clips += 1
            yield clip

    def _push(self, block: bytes) -> Iterator[vad.Clip]:
        with self._lock:
            self._backlog -= len(block)
        for clip in self._segmenter.push(block):
            self.clips += 1
            yield clip

    # -- the input's thread -----------------------------------------------------------------------

    def _on_block(self, block: bytes) -> None:
        if not block:
            return
        with self._lock:
            if self._backlog + len(block) > self._max_backlog:
                self._dropped += len(block)
                return
            self._backlog += len(block)
        self._queue.put(block)

    def _on_end(self) -> None:
        self._queue.put(None)

