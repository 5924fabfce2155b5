"""The clips of one `AsrClient.stream`, shared by the stream's attempts, so that a resumed stream sends each clip
exactly once more and in order.

One thread reads the caller's clips (a live source blocks until someone speaks) into a short buffer. Each
attempt (one `StreamingRecognize` call) takes clips from it; a clip taken is the attempt's until its result
comes back. When the attempt ends without them, `close` puts its unanswered clips back at the front, in
order, and from then on the attempt takes nothing more: gRPC may still pull one more request from a call
that already broke, and a clip handed to it then would be lost (a trial that SIGKILLed the server while a
file streamed lost one clip to each failed reconnect, 8 in all, before this).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from typing import Final

import vad

__all__ = ["END", "PAUSE", "WAITING", "Attempt", "ClipFeed", "with_pauses"]

END: Final = object()  # `take`: the caller's clips are all sent
PAUSE: Final = object()  # `with_pauses`: the source has paused after a clip
WAITING: Final = object()  # `with_pauses`: no clip yet
_BUFFER = 4  # clips read ahead of the stream


class Attempt:
    """One call's share of the feed: the clips it took and has no result for yet, in order."""

    def __init__(self) -> None:
        self.unanswered: deque[vad.Clip] = deque()
        self.closed = False


class ClipFeed:
    """The caller's clips, read on a thread of their own; `take` hands them out to attempts."""

    def __init__(self, clips: Iterable[vad.Clip]) -> None:
        self._cond = threading.Condition()
        self._items: deque[vad.Clip] = deque()
        self._done = False
        self._error: BaseException | None = None
        threading.Thread(target=self._read, args=(clips,), name="asr-stream-clips", daemon=True).start()

    def _read(self, clips: Iterable[vad.Clip]) -> None:
        try:
            for clip in clips:
                with self._cond:
                    while len(self._items) >= _BUFFER:
                        self._cond.wait()
                    self._items.append(clip)
                    self._cond.notify_all()
        except BaseException as exc:  # handed over to the stream's consumer, raised there
            with self._cond:
                self._error = exc
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def take(self, attempt: Attempt, wait_s: float) -> vad.Clip | object | None:
        """The next clip, now the attempt's; None when none came for `wait_s` (time for a keepalive); END when
        all are sent or the attempt is closed. Raises what reading the caller's clips raised."""
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                if attempt.closed:
                    return END
                if self._items:
                    clip = self._items.popleft()
                    attempt.unanswered.append(clip)
                    self._cond.notify_all()
                    return clip
                if self._error is not None:
                    raise self._error
                if self._done:
                    return END
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def answered(self, attempt: Attempt) -> None:
        """The attempt's oldest clip got its result."""
        with self._cond:
            if attempt.unanswered:
                attempt.unanswered.popleft()

    def close(self, attempt: Attempt) -> None:
        """The attempt is over: its unanswered clips go back to the front, in order, for the next one."""
        with self._cond:
            attempt.closed = True
            self._items.extendleft(reversed(attempt.unanswered))
            attempt.unanswered.clear()
            self._cond.notify_all()


def with_pauses(clips: Iterable[vad.Clip], silence_s: Callable[[], float], pause_s: float,
                poll_s: float) -> Generator[vad.Clip | object, None, None]:
    """The clips (read on a thread of their own, as a stream's), and while none comes: `PAUSE` once the
    source has been silent `pause_s` after a clip (once a pause), else `WAITING` every `poll_s`."""
    feed, attempt = ClipFeed(clips), Attempt()
    due = False  # a clip came since the last pause
    try:
        while (item := feed.take(attempt, poll_s)) is not END:
            if item is None:
                paused = due and silence_s() >= pause_s
                due = due and not paused
                yield PAUSE if paused else WAITING
                continue
            feed.answered(attempt)
            due = True
            yield item
    finally:
        feed.close(attempt)
