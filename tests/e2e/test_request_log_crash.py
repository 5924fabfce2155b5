"""The request log survives the server being killed: a real `asr serve` with logging on, SIGKILLed after
its traffic and again in the middle of it, then restarted and stopped gracefully. Nothing written before a
kill is lost or corrupted, the next server appends cleanly, and no row is there twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

import vad
from asr_service.client import AsrClient
from asr_service.errors import ClientError
from asr_service.request_log import read_rows
from tests.browser import free_port
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow
JFK = vad.read_audio(REPO_ROOT / "asr_service" / "data" / "jfk.wav")
PIECES = [JFK[i:i + 32_000].astype("<i2").tobytes() for i in range(0, JFK.size - 32_000, 32_000)]  # 2 s each




def _serve(log_dir: Path, out: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASR_REQUEST_LOG_DIR": str(log_dir),
           "ASR_REQUEST_LOG_SAMPLE_SHARE": "1"}
    with out.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    target = f"127.0.0.1:{port}"
    with AsrClient(target) as client:
        client.wait_ready(120)
    return proc, target


def _send(target: str, n: int, sent: list[str], stop: threading.Event | None = None) -> None:
    with AsrClient(target, logging_consent="audio", subject_id="u-crash") as client:
        for i in range(n):
            if stop is not None and stop.is_set():
                return
            try:
                sent.append(client.recognize(PIECES[i % len(PIECES)]).result_id)
            except ClientError:  # the server was killed under us
                return


def _check_store(log_dir: Path) -> list[dict[str, object]]:
    """Every complete line parses, a torn tail is at most the last line of a file, every WAV named is whole."""
    for manifest in log_dir.rglob("manifest.jsonl"):
        lines = manifest.read_bytes().split(b"\n")
        for line in lines[:-1]:  # lines[-1] is b"" after a final newline, or the torn tail of a kill
            json.loads(line)
    rows = list(read_rows(log_dir))
    for row in rows:
        with wave.open(str(row["audio_path"])) as w:
            frames = w.readframes(w.getnframes())
            assert len(frames) == 2 * w.getnframes() > 0
    return rows


def test_killed_mid_write_loses_nothing_written_and_restarts_cleanly(tmp_path: Path) -> None:
    log_dir, out = tmp_path / "log", tmp_path / "serve.log"
    proc, target = _serve(log_dir, out)
    first: list[str] = []
    _send(target, 12, first)
    time.sleep(1.5)  # nothing in flight: what was answered must be on disk
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    rows = _check_store(log_dir)
    assert sorted(str(r["utt_id"]) for r in rows) == sorted(first)
    before = {str(r["utt_id"]): r for r in rows}

    proc, target = _serve(log_dir, out)  # a restart repairs whatever the kill left, then appends
    during: list[str] = []
    stop = threading.Event()
    traffic = threading.Thread(target=_send, args=(target, 1000, during, stop))
    traffic.start()
    deadline = time.monotonic() + 60
    while len(during) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # in the middle of the traffic
    proc.wait(10)
    stop.set()
    traffic.join(30)
    rows = _check_store(log_dir)
    kept = {str(r["utt_id"]): r for r in rows}
    assert all(kept[u] == before[u] for u in before)  # earlier rows untouched
    assert len(during) >= 8 and sum(u in kept for u in during) >= len(during) - 4  # at most what was in flight

    proc, target = _serve(log_dir, out)
    last: list[str] = []
    _send(target, 5, last)
    proc.send_signal(signal.SIGTERM)  # graceful: the queue is written before the process ends
    assert proc.wait(60) == 0
    rows = _check_store(log_dir)
    ids = [str(r["utt_id"]) for r in rows]
    assert len(ids) == len(set(ids))  # no row twice
    assert set(last) <= set(ids) and set(first) <= set(ids)
    assert not list(log_dir.rglob("*.tmp")) and not list(log_dir.rglob(".*.wav*"))
    assert np.isfinite([float(r["confidence"]) for r in rows]).all()  # type: ignore[arg-type]
