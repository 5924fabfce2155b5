"""Traffic for the e2e tests that break servers under it: one client streaming clips and one sending them
one by one, each in its own thread, collecting results and errors for the test to check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import vad
from asr_service.client import AsrClient, ClipResult


def paced(clips: Iterable[vad.Clip], gap_s: float) -> Iterator[vad.Clip]:
    """`clips`, one every `gap_s` (a live source, not a file read at once)."""
    for clip in clips:
        time.sleep(gap_s)
        yield clip


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


class TwoClients:
    """`clips` streamed (one every 50 ms) by a client made with `stream_options`, and sent with `Recognize`
    (one every 20 ms) by a client made with `unary_options`, both to `target`.

    With `until`, each client sends `clips` over and over until the event is set, so that traffic lasts as
    long as the test needs however fast the host is; `sent_streamed` and `sent_unary` are what was sent."""

    def __init__(self, target: str, clips: list[vad.Clip], *, stream_options: dict[str, Any],
                 unary_options: dict[str, Any], until: threading.Event | None = None) -> None:
        self._target, self._clips, self._until = target, clips, until
        self._stream_options, self._unary_options = stream_options, unary_options
        self.streamed: list[ClipResult] = []
        self.unary: list[ClipResult] = []
        self.sent_streamed: list[vad.Clip] = []
        self.sent_unary: list[vad.Clip] = []
        self.errors: list[BaseException] = []  # reported by the test, not lost in the threads
        self._workers = [threading.Thread(target=self._stream), threading.Thread(target=self._send)]

    def start(self) -> TwoClients:
        for worker in self._workers:
            worker.start()
        return self

    def join(self, timeout_s: float = 300.0) -> None:
        for worker in self._workers:
            worker.join(timeout_s)

    def _to_send(self, sent: list[vad.Clip]) -> Iterator[vad.Clip]:
        while True:
            for clip in self._clips:
                sent.append(clip)
                yield clip
            if self._until is None or self._until.is_set():
                return

    def _stream(self) -> None:
        try:
            with AsrClient(self._target, **self._stream_options) as client:
                for result in client.stream(paced(self._to_send(self.sent_streamed), 0.05)):
                    self.streamed.append(result)
        except BaseException as exc:
            self.errors.append(exc)

    def _send(self) -> None:
        try:
            with AsrClient(self._target, **self._unary_options) as client:
                for clip in self._to_send(self.sent_unary):
                    self.unary.append(client.recognize_clip(clip))
                    time.sleep(0.02)
        except BaseException as exc:
            self.errors.append(exc)
