"""A retried clip is answered once: a short-lived, bounded cache of answers keyed by who asked for what.

A client on a bad network retries a clip whose answer it did not get (`AsrClient` sends the same
request id and clip id again; a resumed stream keeps its request id). The server may have transcribed it
already, or be transcribing it still. `ResultCache` answers the repeat with the first answer instead of
running the model again:

- the key is the caller's identity (its token's client name; "" when the server has no tokens), the
  request id, the clip id, and a digest of the clip's bytes and its config, so that a client cannot read
  another's result by guessing ids (without tokens it would need the very audio too), and a buggy client
  that reuses ids for other audio gets a fresh answer;
- only successful answers are kept, for `ttl_s`, at most `max_entries` of them (the oldest go first);
- a duplicate that arrives while the first is still running waits for it (it is not run twice). The
  first's model call (`run`) goes on when its caller goes away (a client that timed out, a dropped
  stream), so the retry that follows gets its answer; when the first fails, the waiter runs the clip itself.

Used from the server's event loop only: no locks. `claim` ties each claim to the end of its call (the
handler's `finally` runs what `on_done` registered), so the servicer's error paths need no hook: a call
that ends before `run` started its work (a refusal) releases its claim.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

__all__ = ["Key", "ResultCache", "StreamKeys", "key_of", "next_index"]

_T = TypeVar("_T")
_R = TypeVar("_R")
# (client identity, request id, clip id, digest of the clip's config and bytes)
Key = tuple[str, str, str, bytes]
_FAILED = object()  # what a claim resolves to when its call ended without an answer


def key_of(identity: str | None, request_id: str, clip_id: str, config: bytes, audio: bytes) -> Key:
    """The cache key of one clip (`config`: the serialised RecognitionConfig; `audio`: the clip's bytes)."""
    digest = hashlib.blake2b(config, digest_size=16)
    digest.update(len(config).to_bytes(8, "little"))
    digest.update(audio)
    return identity or "", request_id, clip_id, digest.digest()


class ResultCache(Generic[_T]):
    """Answers by key for `ttl_s`, at most `max_entries` (0 turns the cache off), and the claims in flight."""

    def __init__(self, *, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._answers: OrderedDict[Key, tuple[float, _T]] = OrderedDict()  # oldest first
        self._claims: dict[Key, asyncio.Future[object]] = {}
        self._running: set[Key] = set()  # claims whose work `run` started: it, not the call, ends them
        self.hits = 0  # repeats answered from the cache (or by waiting for the first)

    @property
    def enabled(self) -> bool:
        """False when `max_entries` is 0: every clip runs."""
        return self.max_entries > 0

    def __len__(self) -> int:
        return len(self._answers)

    async def claim(self, key: Key, on_done: Callable[[Any], object]) -> _T | None:
        """The answer already given for `key` (waiting for one in flight), or None: the caller runs the clip
        and then calls `store`. `on_done` registers a callback for the end of the caller's call (run by the
        handler's `finally`), which releases the claim if the caller never stored an answer."""
        while True:
            answer = self._get(key)
            if answer is not None:
                self.hits += 1
                return answer
            pending = self._claims.get(key)
            if pending is None:
                break
            outcome = await asyncio.shield(pending)  # the waiter's own cancellation leaves the first running
            if outcome is not _FAILED:
                self.hits += 1
                return outcome  # type: ignore[return-value]  # what `store` set: a _T
            # the first failed or went away: look again (another waiter may have claimed it meanwhile)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._claims[key] = future
        on_done(lambda _: self._release(key, future))
        return None

    async def run(self, key: Key | None, work: Awaitable[_R], answer: Callable[[_R], _T]) -> _R:
        """`work`'s result. With a `key` this caller claimed, `work` runs to its end even when the caller is
        cancelled, and on success `answer(result)` is kept and handed to whoever waits for it."""
        if key is None or key not in self._claims:
            return await work
        task = asyncio.ensure_future(work)
        self._running.add(key)
        task.add_done_callback(lambda done: self._finish(key, done, answer))
        try:
            return await asyncio.shield(task)
        finally:
            # A refusal's exception is held by the task and carries this frame in its traceback: without
            # the `del`, this frame's `task` closes a reference cycle, and every refused clip (its audio
            # too) waits for a full garbage collection (docs/security.md, Soak).
            del task

    def _finish(self, key: Key, task: asyncio.Future[_R], answer: Callable[[_R], _T]) -> None:
        self._running.discard(key)
        if task.cancelled() or task.exception() is not None:  # retrieved here: no "never retrieved" warning
            future = self._claims.get(key)
            if future is not None:
                self._release(key, future, force=True)
            return
        self.store(key, answer(task.result()))

    def store(self, key: Key, answer: _T) -> None:
        """Keep the successful `answer` to a claimed `key`, and hand it to whoever waits for it."""
        now = self._clock()
        self._answers[key] = (now, answer)
        self._answers.move_to_end(key)
        while len(self._answers) > self.max_entries:
            self._answers.popitem(last=False)
        self._expire(now)
        future = self._claims.pop(key, None)
        if future is not None and not future.done():
            future.set_result(answer)

    def answers(self) -> list[_T]:
        """The answers kept now, oldest first."""
        self._expire(self._clock())
        return [answer for _, answer in self._answers.values()]

    def _release(self, key: Key, future: asyncio.Future[object], *, force: bool = False) -> None:
        if key in self._running and not force:
            return  # the work goes on without its call; `_finish` ends the claim
        if self._claims.get(key) is future:
            del self._claims[key]
        if not future.done():
            future.set_result(_FAILED)

    def _get(self, key: Key) -> _T | None:
        self._expire(self._clock())
        entry = self._answers.get(key)
        return entry[1] if entry is not None else None

    def _expire(self, now: float) -> None:
        while self._answers:
            stored, _ = next(iter(self._answers.values()))
            if now - stored < self.ttl_s:
                return
            self._answers.popitem(last=False)


class StreamKeys:
    """The keys of one stream's clips, and the stream's end as `claim` needs it.

    A stream answers one clip at a time, so it holds one claim at most: one callback on the call (not one
    per clip) releases it. A key this call used among its last `_RECENT` clips is a new clip that repeats
    an old one (a client that reuses clip ids for the same audio), not a retry: it gets no key, and runs."""

    _RECENT = 1024

    def __init__(self, *, identity: str | None, config: bytes, add_done_callback: Callable[[Any], object]) -> None:
        self.identity, self.config = identity, config
        self._used: OrderedDict[Key, None] = OrderedDict()
        self._release: Callable[[object], None] | None = None
        add_done_callback(lambda call: self._release(call) if self._release is not None else None)

    def on_done(self, release: Callable[[object], None]) -> None:
        """`claim`'s `on_done`: `release` runs when the call ends (it replaces the last clip's, settled by now)."""
        self._release = release

    def key(self, request_id: str, clip_id: str, data: bytes) -> Key | None:
        """The clip's key, or None when this call has used it already."""
        key = key_of(self.identity, request_id, clip_id, self.config, data)
        if key in self._used:
            return None
        self._used[key] = None
        if len(self._used) > self._RECENT:
            self._used.popitem(last=False)
        return key


def next_index(answers: Iterable[Any], request_id: str) -> int:
    """The first result index free for a stream that resumes `request_id` (0 for a new one), from the cached
    answers (`RecognizeResponse`/`StreamingRecognizeResponse`): result ids ("REQUEST_ID/INDEX") stay unique
    across a client's reconnects while the answers before them are cached (`ttl_s`)."""
    prefix = request_id + "/"
    taken = [int(tail) for a in answers if (rid := a.result.result_id).startswith(prefix)
             and (tail := rid[len(prefix):]).isdigit()]
    return max(taken, default=-1) + 1
