"""The writer: never blocks the caller, loses nothing on a graceful stop, degrades instead of raising."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from asr_service.request_log import RequestLog, read_rows
from asr_service.request_log._files import store_lock
from asr_service.request_log._writer import MAINTENANCE_INTERVAL_S, RETRY_INTERVAL_S
from tests.asr_service.request_log.conftest import FakeClock, clip, lines_of, wait_for


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, name
    return value


def test_a_graceful_stop_writes_every_accepted_row(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    log = make_log(queue_size=5000)
    accepted = sum(log.submit(clip(f"req-{i}", i % 3, audio=i % 4 == 0)) for i in range(3000))
    log.stop()
    assert accepted == 3000
    assert log.stats()["written"] == 3000 and log.stats()["queued"] == 0
    assert len(lines_of(tmp_path / "log" / "2025-03-14" / "manifest.jsonl")) == 3000
    assert len(list((tmp_path / "log" / "2025-03-14" / "audio").iterdir())) == 750


def test_rows_queued_before_start_are_written(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    log = make_log(start=False)
    assert log.submit(clip())
    log.start()
    log.stop()
    assert [r["utt_id"] for r in read_rows(tmp_path / "log")] == ["req-1/0"]


def test_a_full_queue_drops_and_counts_without_blocking(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    registry = CollectorRegistry()
    log = make_log(queue_size=10, registry=registry)
    # one row written first: the writer is past its start (which takes the lock too: taken here first, the
    # writer would wait before its loop and never take the next row off the queue)
    assert log.submit(clip("warm"))
    wait_for(lambda: log.stats()["written"] == 1)
    with store_lock(tmp_path / "log"):  # the disk "hangs": the writer waits for the lock
        assert log.submit(clip("first"))
        wait_for(lambda: log.stats()["queued"] == 0)  # the writer holds it, blocked
        started = time.perf_counter()
        results = [log.submit(clip(f"req-{i}")) for i in range(100)]
        elapsed = time.perf_counter() - started
    log.stop()
    assert elapsed < 0.5  # 100 submits against a stuck writer: no waiting
    assert results.count(True) == 10 and results.count(False) == 90
    stats = log.stats()
    assert stats["dropped"] == {"queue_full": 90, "degraded": 0}
    assert stats["written"] == 12
    assert _metric(registry, "asr_request_log_rows_total", outcome="dropped_queue_full") == 90
    assert _metric(registry, "asr_request_log_rows_total", outcome="written") == 12
    assert _metric(registry, "asr_request_log_bytes") == stats["bytes"] > 0
    assert _metric(registry, "asr_request_log_degraded") == 0


def test_an_unwritable_directory_degrades_and_recovers(
        make_log: Callable[..., RequestLog], tmp_path: Path, clock: FakeClock) -> None:
    # A folder under a regular file: no one can create it, root included (chmod does not stop root).
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    registry = CollectorRegistry()
    log = make_log(blocker / "log", registry=registry)
    wait_for(lambda: log.degraded is not None)
    assert log.degraded is not None and log.degraded.startswith("not writable: Not a directory")
    assert log.submit(clip()) is False
    assert log.stats()["dropped"]["degraded"] == 1
    assert _metric(registry, "asr_request_log_degraded") == 1
    assert _metric(registry, "asr_request_log_rows_total", outcome="dropped_degraded") == 1
    blocker.unlink()
    time.sleep(0.5)
    assert log.degraded is not None  # no retry before its time
    clock.advance(RETRY_INTERVAL_S)
    wait_for(lambda: log.degraded is None)
    assert _metric(registry, "asr_request_log_degraded") == 0
    assert log.submit(clip("after"))
    log.stop()
    assert [r["utt_id"] for r in read_rows(blocker / "log")] == ["after/0"]


def test_a_row_queued_while_the_writer_is_busy_survives_an_immediate_stop(
        make_log: Callable[..., RequestLog], tmp_path: Path, clock: FakeClock) -> None:
    # The writer is held in its maintenance step (it waits for the store's lock) when a row comes in and
    # the server stops at once: the row was accepted, so the stop must write it.
    log = make_log()
    wait_for(lambda: (tmp_path / "log" / ".lock").exists())
    with store_lock(tmp_path / "log"):
        clock.advance(MAINTENANCE_INTERVAL_S)
        time.sleep(0.6)  # the writer wakes (every 0.2 s), finds nothing queued and blocks on the lock
        assert log.submit(clip("late"))
        stopper = threading.Thread(target=log.stop)
        stopper.start()
        wait_for(lambda: log.stats()["stopped"])
    stopper.join(10)
    assert [r["utt_id"] for r in read_rows(tmp_path / "log")] == ["late/0"]
    assert log.stats()["written"] == 1


def test_a_directory_that_turns_unwritable_fails_the_batch_and_degrades(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    log = make_log()
    assert log.submit(clip("ok"))
    wait_for(lambda: log.stats()["written"] == 1)
    partition = tmp_path / "log" / "2025-03-14"
    (partition / "manifest.jsonl").unlink()
    (partition / "manifest.jsonl").mkdir()  # appending now fails with EISDIR
    assert log.submit(clip("lost", audio=True))
    wait_for(lambda: log.degraded is not None)
    assert log.degraded is not None and log.degraded.startswith("not writable: Is a directory")
    assert log.stats()["failed"] == 1
    assert len(os.listdir(partition / "audio")) == 1  # the first clip's; the failed one's WAV is gone again


def test_a_full_disk_degrades_with_its_reason(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    # /dev/full answers every write with ENOSPC: the manifest of today's partition points at it.
    partition = tmp_path / "log" / "2025-03-14"
    partition.mkdir(parents=True)
    (partition / "manifest.jsonl").symlink_to("/dev/full")
    log = make_log()
    assert log.submit(clip(audio=False))
    wait_for(lambda: log.degraded is not None)
    assert log.degraded == "disk full"
    assert log.stats()["failed"] == 1
    assert log.submit(clip(audio=False)) is False


def test_submit_never_raises_even_after_stop(make_log: Callable[..., RequestLog]) -> None:
    log = make_log()
    log.stop()
    assert log.submit(clip()) is False
    assert log.degraded is None and log.stats()["stopped"]  # no alarm at shutdown
    assert log.stats()["dropped"]["degraded"] == 1


def test_submit_from_many_threads_counts_every_row(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    log = make_log(queue_size=64)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        mine = [log.submit(clip(f"{name}-{i}", audio=False)) for i in range(500)]
        with lock:
            outcomes.extend(mine)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.stop()
    stats = log.stats()
    assert stats["written"] == outcomes.count(True)
    assert stats["dropped"]["queue_full"] == outcomes.count(False)
    assert len(list(read_rows(tmp_path / "log"))) == outcomes.count(True)
