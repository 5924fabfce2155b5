"""What the request log costs the request path, and how many rows its writer keeps up with.

    python bench/bench_request_log.py [--calls 20000] [--rows 4000] [--audio-s 2] [--dir FOLDER]

1. `submit()` per call (p50/p95 microseconds), measured call by call with the writer running and
   writing what it gets, against a no-op `submit` measured in the same run (the timer and the call
   itself); also the drop path (queue full behind a writer held on the store's lock), and building the
   `LogEntry` the server hands over.
2. Rows per second the writer sustains: a queue filled before the writer starts, timed until the
   last row is on disk (`stop()`), for text-only rows (consent "results") and rows with a WAV of
   `--audio-s` seconds (consent "audio"), with fsync on and off; and the rows with a WAV again while a
   pure-Python thread keeps the GIL busy (a server's event loop that never waits): every syscall of the
   writer then waits up to a switch interval (5 ms) for the GIL back.

The store goes to a temporary folder under --dir (default: the system's temp folder): the fsync
figures are those of that disk. Prints one JSON line per figure, then a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from asr_service.config import RequestLogOptions  # noqa: E402
from asr_service.request_log import LogEntry, RequestLog  # noqa: E402
from asr_service.request_log._files import store_lock  # noqa: E402

SAMPLE_RATE_HZ = 16_000
_NO_CAP = 10**13  # the size cap is not what is measured


def _entry(index: int, *, audio_s: float) -> LogEntry:
    audio = audio_s > 0
    return LogEntry(
        kind="clip", recorded_at=datetime.now(UTC), request_id=f"bench-{index}", clip_id=str(index % 7),
        clip_index=index % 7, consent="audio" if audio else "results", subject_id=f"subject-{index % 50}",
        client_tags={"device": "pixel-8", "app_version": "4.2.1", "locale": "en-US"},
        text="please turn the lights off in the kitchen and set an alarm for seven", confidence=0.37,
        model_id="whisper-tiny.en", model_version="tiny.en-ct2-int8", latency_ms=84.2,
        audio_stats={"duration_s": 2.0, "rms_dbfs": -24.1, "peak_dbfs": -6.0, "clipped_ratio": 0.0,
                     "sample_rate_hz": 16000.0},
        vad={"speech_ratio": 0.81, "pre_padding_ms": 300.0, "post_padding_ms": 300.0, "gain_db": 0.0, "split": 0.0,
             "start_s": 12.4},
        sampled_because="low_confidence",
        pcm=b"\x10\x00" * int(SAMPLE_RATE_HZ * audio_s) if audio else None,
    )


class _NoOp:
    """The baseline: a submit that does nothing."""

    def submit(self, entry: LogEntry) -> bool:
        return True


def _percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {"p50_us": ordered[len(ordered) // 2] / 1000, "p95_us": ordered[int(len(ordered) * 0.95)] / 1000,
            "mean_us": statistics.fmean(ordered) / 1000}


def _time_calls(target: Any, entries: list[LogEntry], *, pace_every: int = 0) -> list[int]:
    samples = []
    timer = time.perf_counter_ns
    for i, entry in enumerate(entries):
        start = timer()
        target.submit(entry)
        samples.append(timer() - start)
        if pace_every and i % pace_every == 0:
            time.sleep(0)  # as an event loop does between requests: the writer gets the GIL
    return samples


def bench_submit(folder: Path, calls: int) -> list[dict[str, Any]]:
    entries = [_entry(i, audio_s=1.0) for i in range(calls)]  # submit passes a reference: the size does not matter
    figures = []
    # Interleave the baseline and the real call in rounds so that both see the same machine state.
    noop, real = _NoOp(), RequestLog(RequestLogOptions(dir=str(folder / "submit"), queue_size=calls, fsync=True,
                                                      max_bytes=_NO_CAP))
    real.start()
    base_ns: list[int] = []
    real_ns: list[int] = []
    rounds = 10
    per_round = calls // rounds
    for r in range(rounds):
        chunk = entries[r * per_round:(r + 1) * per_round]
        base_ns += _time_calls(noop, chunk, pace_every=10)
        real_ns += _time_calls(real, chunk, pace_every=10)
    real.stop(timeout_s=120)
    stats = real.stats()
    figures.append({"what": "submit: no-op baseline", **_percentiles(base_ns), "calls": len(base_ns)})
    figures.append({"what": "submit: accepted (writer running)", **_percentiles(real_ns), "calls": len(real_ns),
                    "written": stats["written"], "dropped": stats["dropped"]})
    # The drop path: the writer is stuck on the lock, the queue (size 1) is full.
    stuck = RequestLog(RequestLogOptions(dir=str(folder / "stuck"), queue_size=1, fsync=False))
    (folder / "stuck").mkdir()
    with store_lock(folder / "stuck"):
        stuck.start()
        stuck.submit(entries[0])
        time.sleep(0.3)  # the writer takes it and blocks on the lock
        stuck.submit(entries[1])
        drop_ns = _time_calls(stuck, entries[2:2 + calls // 2])
        figures.append({"what": "submit: dropped (queue full)", **_percentiles(drop_ns), "calls": len(drop_ns),
                        "dropped": stuck.stats()["dropped"]})
        release = threading.Thread(target=stuck.stop, kwargs={"timeout_s": 30})
        release.start()
    release.join()
    build_ns = []
    for i in range(min(calls, 5000)):
        start = time.perf_counter_ns()
        _entry(i, audio_s=0)
        build_ns.append(time.perf_counter_ns() - start)
    figures.append({"what": "LogEntry(...) built (no audio)", **_percentiles(build_ns), "calls": len(build_ns)})
    return figures


def bench_throughput(folder: Path, rows: int, audio_s: float) -> list[dict[str, Any]]:
    figures = []
    wav = f"with {audio_s:g} s WAV"
    cases = [("text only", 0.0, rows, False), (wav, audio_s, max(1, rows // 4), False),
             (wav, audio_s, max(1, rows // 20), True)]
    for label, seconds, count, busy in cases:
        entries = [_entry(i, audio_s=seconds) for i in range(count)]
        for fsync in (False, True):
            figures.append(_drain(folder / f"rows-{seconds}-{fsync}-{busy}", entries, fsync=fsync, busy=busy,
                                  what=f"writer: {label}, fsync {'on' if fsync else 'off'}"
                                       + (", busy thread" if busy else "")))
    return figures


def _drain(store: Path, entries: list[LogEntry], *, fsync: bool, busy: bool, what: str) -> dict[str, Any]:
    """Time the writer through a full queue; with `busy`, a pure-Python thread holds the GIL meanwhile (a
    server's event loop that never waits), so each syscall of the writer waits for a switch interval."""
    log = RequestLog(RequestLogOptions(dir=str(store), queue_size=len(entries), fsync=fsync, max_bytes=_NO_CAP))
    for entry in entries:
        log.submit(entry)
    done = threading.Event()

    def spin() -> None:
        n = 0
        while not done.is_set():
            n += 1

    spinner = threading.Thread(target=spin)
    if busy:
        spinner.start()
    start = time.perf_counter()
    log.start()
    log.stop(timeout_s=600)
    elapsed = time.perf_counter() - start
    done.set()
    if busy:
        spinner.join()
    stats = log.stats()
    assert stats["written"] == len(entries), stats
    return {"what": what, "rows": len(entries), "seconds": round(elapsed, 3),
            "rows_per_s": round(len(entries) / elapsed), "mb_per_s": round(stats["bytes"] / elapsed / 1e6, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="submit() calls timed")
    parser.add_argument("--rows", type=int, default=4000, help="text-only rows for the writer (a quarter with audio)")
    parser.add_argument("--audio-s", type=float, default=2.0, help="seconds of audio per row with audio")
    parser.add_argument("--dir", default=None, help="where the temporary stores go (the disk under test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-request-log-") as tmp:
        figures = bench_submit(Path(tmp), args.calls) + bench_throughput(Path(tmp), args.rows, args.audio_s)
    for figure in figures:
        print(json.dumps(figure))
    print()
    print(f"{'what':44} {'p50 us':>8} {'p95 us':>8} {'rows/s':>8} {'MB/s':>6}")
    for f in figures:
        p50 = f"{f['p50_us']:.2f}" if "p50_us" in f else ""
        p95 = f"{f['p95_us']:.2f}" if "p95_us" in f else ""
        print(f"{f['what']:44} {p50:>8} {p95:>8} {f.get('rows_per_s', ''):>8} {f.get('mb_per_s', ''):>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
