"""The store: repair after a crash, purge (by subject, by day, while a server writes), retention, size cap."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from asr_service.request_log import RequestLog, purge, read_rows, store_stats
from asr_service.request_log._writer import MAINTENANCE_INTERVAL_S, RETRY_INTERVAL_S
from tests.asr_service.request_log.conftest import NOW, FakeClock, clip, feedback, lines_of, pcm, wait_for

DAYS = [NOW - timedelta(days=2), NOW - timedelta(days=1), NOW]


def _wavs(root: Path) -> set[Path]:
    return set(root.glob("*/audio/*.wav"))


def _fill(make_log: Callable[..., RequestLog], root: Path) -> RequestLog:
    """Three days; subjects s1 and s2 on each, with audio, results-only rows and feedback."""
    log = make_log(root)
    for day_index, at in enumerate(DAYS):
        for subject in ("s1", "s2"):
            for n in range(3):
                request = f"{subject}-d{day_index}-r{n}"
                assert log.submit(clip(request, 0, at=at, subject_id=subject, audio=n != 2))
                assert log.submit(feedback(request, 0, at=at, subject_id=subject, action="accepted"))
        # feedback logged without a subject, for a clip of s1: it goes with the clip
        assert log.submit(feedback(f"s1-d{day_index}-r0", 0, at=at, subject_id=""))
    log.stop()
    return log


def test_purge_removes_every_row_and_wav_of_a_subject_on_every_day(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    root = tmp_path / "log"
    _fill(make_log, root)
    rows = list(read_rows(root, kinds=("clip", "feedback")))
    s1_wavs = {Path(r["audio_path"]) for r in rows if r.get("subject_id") == "s1" and "audio_path" in r}
    all_wavs = _wavs(root)
    assert len(s1_wavs) == 6 and len(all_wavs) == 12 and s1_wavs < all_wavs
    manifest_lines = sum(len(lines_of(p)) for p in root.glob("*/manifest.jsonl"))
    feedback_lines = sum(len(lines_of(p)) for p in root.glob("*/feedback.jsonl"))
    assert (manifest_lines, feedback_lines) == (18, 21)

    result = purge(root, subject="s1")

    assert (result.rows, result.feedback_rows, result.files, result.partitions) == (9, 12, 6, 0)
    assert _wavs(root) == all_wavs - s1_wavs  # 100 % of the subject's audio, none of the others'
    left = list(read_rows(root, kinds=("clip", "feedback")))
    assert not [r for r in left if r["subject_id"] == "s1" or r["utt_id"].startswith("s1-")]
    assert len(left) == 9 + 9
    assert sum(len(lines_of(p)) for p in root.glob("*/manifest.jsonl")) == manifest_lines - 9
    assert sum(len(lines_of(p)) for p in root.glob("*/feedback.jsonl")) == feedback_lines - 12
    assert not list(root.rglob("*.tmp"))
    assert purge(root, subject="s1").rows == 0  # idempotent


def test_purge_before_a_day_removes_whole_partitions(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    root = tmp_path / "log"
    _fill(make_log, root)
    result = purge(root, before=NOW.date())
    assert (result.rows, result.feedback_rows, result.files, result.partitions) == (12, 14, 8, 2)
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["2025-03-14"]
    assert {r["partition"] for r in read_rows(root)} == {"2025-03-14"}


def test_purge_refuses_what_would_match_too_much_or_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="subject or a day"):
        purge(tmp_path)
    with pytest.raises(ValueError, match="must not be empty"):
        purge(tmp_path, subject="")
    with pytest.raises(FileNotFoundError):
        purge(tmp_path / "missing", subject="s1")


def test_purge_while_a_server_writes_loses_no_other_row(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    root = tmp_path / "log"
    log = make_log(root, queue_size=100_000)
    done = threading.Event()
    submitted = {"s1": 0, "s2": 0}

    def server() -> None:
        for i in range(3000):
            subject = "s1" if i % 2 else "s2"
            assert log.submit(clip(f"{subject}-{i}", audio=i % 5 == 0, subject_id=subject))
            submitted[subject] += 1
        done.set()

    writer = threading.Thread(target=server)
    writer.start()
    purges = 0
    while not done.is_set() or purges < 3:
        purge(root, subject="s1")
        purges += 1
    writer.join()
    log.stop()
    purge(root, subject="s1")
    rows = list(read_rows(root))
    assert {r["subject_id"] for r in rows} == {"s2"}
    assert len(rows) == submitted["s2"] == 1500  # every row of the other subject survived the rewrites
    assert {Path(r["audio_path"]) for r in rows if "audio_path" in r} == _wavs(root)


def test_a_torn_last_line_is_cut_before_the_next_append(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    root = tmp_path / "log"
    log = make_log(root)
    assert log.submit(clip("before"))
    log.stop()
    manifest = root / "2025-03-14" / "manifest.jsonl"
    with manifest.open("ab") as stream:
        stream.write(b'{"audio": "audio/x.wav", "utt_id": "torn/0", "te')  # a crash mid-append
    assert [r["utt_id"] for r in read_rows(root)] == ["before/0"]  # readers skip it
    log = make_log(root)
    assert log.submit(clip("after"))
    log.stop()
    assert manifest.read_bytes().endswith(b"\n")
    assert [json.loads(line)["utt_id"] for line in lines_of(manifest)] == ["before/0", "after/0"]


def test_start_removes_the_debris_of_a_crash(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    root = tmp_path / "log"
    log = make_log(root)
    assert log.submit(clip("kept"))
    log.stop()
    audio = root / "2025-03-14" / "audio"
    (audio / "orphan-0-deadbeef.wav").write_bytes(b"RIFF" + pcm(0.1))  # renamed, but its line never written
    (audio / "half-0-cafe.wav.tmp").write_bytes(b"RIFF")  # still being written
    (root / ".deleting-2025-01-01" / "audio").mkdir(parents=True)  # a partition half deleted
    log = make_log(root)
    log.stop()
    assert [p.name for p in audio.iterdir()] == [Path(next(read_rows(root))["audio"]).name]
    assert not (root / ".deleting-2025-01-01").exists()


def _old_partition(root: Path, day: date, size: int) -> Path:
    partition = root / day.isoformat()
    (partition / "audio").mkdir(parents=True)
    (partition / "audio" / "a-0-00000000.wav").write_bytes(b"\0" * size)
    row = {"audio": "audio/a-0-00000000.wav", "utt_id": f"{day}/0", "subject_id": "s",
           "recorded_at": f"{day}T12:00:00.000Z"}
    (partition / "manifest.jsonl").write_text(json.dumps(row) + "\n")
    return partition


def test_retention_deletes_old_days_at_start_and_later(
        make_log: Callable[..., RequestLog], tmp_path: Path, clock: FakeClock) -> None:
    root = tmp_path / "log"
    today = NOW.date()
    for age in (0, 1, 2, 3, 10):
        _old_partition(root, today - timedelta(days=age), 100)
    log = make_log(root, retention_days=2.0)

    def days() -> list[str]:
        return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))

    # a partition goes once its day began retention_days ago: 2025-03-12 00:00 + 2 days <= 09:30 on the 14th
    # (the writer removes them one by one, oldest first: wait for the whole result, not for one of them)
    wait_for(lambda: days() == ["2025-03-13", "2025-03-14"])
    clock.advance(timedelta(days=1).total_seconds() + MAINTENANCE_INTERVAL_S)
    wait_for(lambda: not (root / "2025-03-13").exists())
    assert (root / "2025-03-14").exists()  # yesterday now, not yet 2 days old
    log.stop()


def test_the_size_cap_deletes_oldest_days_then_pauses_until_a_new_day(
        make_log: Callable[..., RequestLog], tmp_path: Path, clock: FakeClock) -> None:
    root = tmp_path / "log"
    today = NOW.date()
    for age in (1, 2, 3):
        _old_partition(root, today - timedelta(days=age), 400_000)
    log = make_log(root, max_bytes=1_000_000)
    wait_for(lambda: not (root / str(today - timedelta(days=3))).exists())
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["2025-03-12", "2025-03-13"]
    assert log.degraded is None
    # today alone past the cap: older days go first, then logging pauses
    for i in range(40):
        log.submit(clip(f"big-{i}", pcm=pcm(1.0)))  # 32 kB each
    wait_for(lambda: log.degraded == "size cap reached")
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["2025-03-14"]
    assert log.submit(clip("dropped")) is False
    assert log.stats()["dropped"]["degraded"] >= 1
    clock.advance(RETRY_INTERVAL_S)
    time.sleep(0.5)  # the writer retries (it polls every 0.2 s) ...
    assert log.degraded == "size cap reached"  # ... but nothing changes within the day
    clock.advance(timedelta(days=1).total_seconds())  # a new day: yesterday may go now
    wait_for(lambda: log.degraded is None)
    assert not (root / "2025-03-14").exists()
    tomorrow = NOW + timedelta(days=1)
    assert log.submit(clip("next-day", at=tomorrow))
    log.stop()
    assert [r["utt_id"] for r in read_rows(root)] == ["next-day/0"]


def test_stats_count_days_rows_audio_and_bytes(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    root = tmp_path / "log"
    _fill(make_log, root)
    stats = store_stats(root)
    assert (stats.partitions, stats.rows, stats.feedback_rows, stats.clips_with_audio) == (3, 18, 21, 12)
    assert (stats.oldest, stats.newest) == (DAYS[0].date(), NOW.date())
    assert stats.bytes == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_read_rows_since_skips_older_rows(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    root = tmp_path / "log"
    _fill(make_log, root)
    since = DAYS[1]
    assert {r["partition"] for r in read_rows(root, since=since)} == {"2025-03-13", "2025-03-14"}
    assert len(list(read_rows(root, since=since))) == 12
    assert len(list(read_rows(root, since=since.replace(tzinfo=None)))) == 12  # naive = UTC
    assert not list(read_rows(root, since=datetime(2025, 3, 15, tzinfo=NOW.tzinfo)))
