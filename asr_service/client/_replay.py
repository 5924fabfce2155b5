"""Traffic replay: a manifest's audio through the client VAD to a server, at a set rate, optionally shifted.

For demos (a dashboard with traffic), drift tests (`gain_db`, noise, pitch) and load (`rate_qps`).
Clips are sent with `Recognize` on a few threads so that a slow answer does not hold the schedule.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

import vad
from asr_service.client._baseline import manifest_clips
from asr_service.client._remote import AsrClient
from asr_service.client._result import ClipResult
from asr_service.client._shifts import add_noise, apply_gain, pitch_up
from asr_service.errors import ClientError
from asr_service.recognizer import NullReason

__all__ = ["ReplayOptions", "ReplaySummary", "replay", "shift_transform"]

logger = logging.getLogger(__name__)
Pcm = npt.NDArray[np.int16]


@dataclass(frozen=True, kw_only=True)
class ReplayOptions:
    """How to replay: rate (0 = as fast as answers come), shifts, how many clips, how many passes."""

    rate_qps: float = 0.0
    gain_db: float = 0.0
    noise_snr_db: float | None = None
    pitch_factor: float = 1.0
    max_clips: int | None = None
    passes: int = 1
    concurrency: int = 4
    vad_options: vad.VadOptions = field(default_factory=vad.VadOptions)

    def __post_init__(self) -> None:
        if self.rate_qps < 0:
            raise ValueError(f"rate_qps: {self.rate_qps} must be >= 0")
        if not 1 <= self.concurrency <= 64:
            raise ValueError(f"concurrency: {self.concurrency} must be in 1..64")
        if self.passes < 1:
            raise ValueError(f"passes: {self.passes} must be >= 1")


@dataclass
class ReplaySummary:
    """What a replay sent and got back."""

    sent: int = 0
    answered: int = 0
    nulls: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    round_trip_ms: list[float] = field(default_factory=list)

    def line(self) -> str:
        """One line for the CLI."""
        p50 = float(np.percentile(self.round_trip_ms, 50)) if self.round_trip_ms else float("nan")
        rate = self.sent / self.elapsed_s if self.elapsed_s else 0.0
        return (f"sent {self.sent} clips in {self.elapsed_s:.1f} s ({rate:.2f}/s): {self.answered} answered, "
                f"{self.nulls} without text, errors {self.errors or 'none'}; round trip p50 {p50:.0f} ms")


def shift_transform(options: ReplayOptions) -> Callable[[Pcm], Pcm]:
    """The audio change `options` asks for (gain, then noise, then pitch)."""

    def transform(pcm: Pcm) -> Pcm:
        out = apply_gain(pcm, options.gain_db)
        if options.noise_snr_db is not None:
            out = add_noise(out, options.noise_snr_db)
        if options.pitch_factor != 1.0:
            out = pitch_up(out, options.pitch_factor)
        return out

    return transform


def _clips(manifest: str | Path, options: ReplayOptions) -> Iterator[vad.Clip]:
    count = 0
    for _ in range(options.passes):
        for _, clip in manifest_clips(manifest, options.vad_options, transform=shift_transform(options)):
            if options.max_clips is not None and count >= options.max_clips:
                return
            count += 1
            yield clip


def replay(manifest: str | Path, target: str, options: ReplayOptions | None = None,
           *, clips: Iterable[vad.Clip] | None = None) -> ReplaySummary:
    """Send every clip of `manifest` (or `clips`) to the server at `target` ("host:port")."""
    opts = options or ReplayOptions()
    summary = ReplaySummary()
    lock = threading.Lock()
    started = time.monotonic()
    with AsrClient(target, timeout_s=60.0) as client, ThreadPoolExecutor(opts.concurrency) as pool:
        client.wait_ready()
        pending: list[Future[None]] = []

        def send(clip: vad.Clip) -> None:
            try:
                answer: ClipResult = client.recognize_clip(clip)
            except ClientError as exc:
                with lock:
                    summary.errors[exc.code or "UNKNOWN"] = summary.errors.get(exc.code or "UNKNOWN", 0) + 1
                return
            with lock:
                summary.answered += 1
                summary.nulls += answer.null_reason is not NullReason.NONE
                summary.round_trip_ms.append(answer.round_trip_ms)

        for clip in clips if clips is not None else _clips(manifest, opts):
            if opts.rate_qps > 0:
                due = started + summary.sent / opts.rate_qps
                time.sleep(max(0.0, due - time.monotonic()))
            while sum(not f.done() for f in pending) >= opts.concurrency:
                time.sleep(0.005)
            pending = [f for f in pending if not f.done()]
            pending.append(pool.submit(send, clip))
            summary.sent += 1
        for f in pending:
            f.result()
    summary.elapsed_s = time.monotonic() - started
    return summary
