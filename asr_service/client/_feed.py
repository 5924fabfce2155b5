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
from asr_service.revisions import PAUSE_POLL_S, REVISION_PAUSE_S

__all__ = ["END", "PAUSE", "WAITING", "Attempt", "ClipFeed", "PauseWatch", "with_pauses"]

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


class PauseWatch:
    """Whether a live source has paused after a clip: once its silence (`silence_s`, None: not known) reaches
    `REVISION_PAUSE_S`, once a pause. `watching` says when to read it (every `PAUSE_POLL_S`)."""

    def __init__(self, silence_s: Callable[[], float] | None) -> None:
        self._silence_s = silence_s
        self._due = False  # a clip came since the last pause

    def clip(self) -> None:
        """A clip came (or went out)."""
        self._due = True

    @property
    def watching(self) -> bool:
        return self._silence_s is not None and self._due

    def paused(self) -> bool:
        """True once a pause, when the source has been silent long enough since the last clip."""
        if self._silence_s is None or not self._due or self._silence_s() < REVISION_PAUSE_S:
            return False
        self._due = False
        return True


def with_pauses(clips: Iterable[vad.Clip], silence_s: Callable[[], float]) -> Generator[vad.Clip | object, None, None]:
    """The clips (read on a thread of their own, as a stream's), and while none comes: `PAUSE` once the
    source has paused after a clip (`PauseWatch`), else `WAITING` every `PAUSE_POLL_S`."""
    feed, attempt, watch = ClipFeed(clips), Attempt(), PauseWatch(silence_s)
    try:
        while (item := feed.take(attempt, PAUSE_POLL_S)) is not END:
            if item is None:
                yield PAUSE if watch.paused() else WAITING
                continue
            feed.answered(attempt)
            watch.clip()
            yield item
    finally:
        feed.close(attempt)
