"""A writer SIGKILLed mid-way: every complete line parses, every WAV it names is whole, and a new log
appends cleanly after it."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asr_service.config import RequestLogOptions
from asr_service.request_log import RequestLog, read_rows
from tests.asr_service.request_log.conftest import FakeClock, clip, lines_of, wait_for

REPO_ROOT = Path(__file__).resolve().parents[3]

# Writes rows as fast as it can: long texts and audio, so that the kill lands inside a batch. sleep(0)
# hands the GIL to the writer thread as a server's event loop does between requests (a loop that never
# lets go starves it: each of its syscalls then waits a whole 5 ms switch interval for the GIL back).
_WRITER = """
import sys, itertools, time
from asr_service.config import RequestLogOptions
from asr_service.request_log import RequestLog
from tests.asr_service.request_log.conftest import FakeClock, clip, pcm
log = RequestLog(RequestLogOptions(dir=sys.argv[1], fsync=sys.argv[2] == "1", queue_size=5000), clock=FakeClock())
log.start()
for i in itertools.count():
    audio = i % 3 == 0
    log.submit(clip(f"run{sys.argv[3]}-{i}", audio=audio, text="word " * 2000, pcm=pcm(0.25) if audio else None))
    time.sleep(0)
"""


def _check_whole(root: Path) -> list[dict[str, object]]:
    """Every complete line parses; every WAV a line names exists with the size its header says."""
    manifest = root / "2025-03-14" / "manifest.jsonl"
    rows = [json.loads(line) for line in lines_of(manifest)]  # raises on a corrupt complete line
    for row in rows:
        if "audio" in row:
            data = (manifest.parent / str(row["audio"])).read_bytes()
            (riff_size,) = struct.unpack_from("<I", data, 4)
            (data_size,) = struct.unpack_from("<I", data, 40)
            assert len(data) == riff_size + 8 == data_size + 44 > 44, row["audio"]
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("fsync", [False, True])
def test_a_sigkill_loses_only_rows_in_flight_and_corrupts_nothing(tmp_path: Path, fsync: bool) -> None:
    root = tmp_path / "log"
    manifest = root / "2025-03-14" / "manifest.jsonl"
    kept: list[dict[str, object]] = []
    for run in range(3):
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        process = subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(int(fsync)), str(run)],
                                   cwd=REPO_ROOT, env=env)
        try:
            target = len(kept) + 40 + 7 * run
            wait_for(lambda target=target: manifest.exists() and manifest.stat().st_size > target * 10_000, 60.0)
            time.sleep(0.013 * run)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL
        rows = _check_whole(root)
        assert len(rows) > len(kept) and rows[: len(kept)] == kept  # it wrote; nothing written before changed
        kept = rows
    # a new log repairs what the kills left, then appends after the last complete line
    log = RequestLog(RequestLogOptions(dir=str(root), fsync=fsync), clock=FakeClock())
    log.start()
    for i in range(50):
        assert log.submit(clip(f"after-{i}", audio=i % 2 == 0))
    log.stop()
    assert log.stats()["written"] == 50
    assert manifest.read_bytes().endswith(b"\n")
    rows = _check_whole(root)
    assert rows[: len(kept)] == kept and [r["utt_id"] for r in rows[len(kept):]] == [f"after-{i}/0" for i in range(50)]
    named = {Path(r["audio_path"]).name for r in read_rows(root) if "audio_path" in r}
    assert {p.name for p in (manifest.parent / "audio").iterdir()} == named  # no unnamed WAV, no temp file left
