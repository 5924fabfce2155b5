"""A server SIGKILLed mid-traffic and started again on the same port, with no proxy in between: a client
streaming a file and one sending clips one by one, both with retries and `wait_for_ready` (issue 14, item 5),
get exactly one result per clip, in order, none lost and none repeated; the retried clips' texts are the
ones the same audio gets when nothing breaks."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import vad
from asr_service.client import AsrClient
from asr_service.client._baseline import clips_of_pcm
from tests.browser import free_port
from tests.e2e._traffic import TwoClients, wait_until
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow
# real speech cut into short clips; repeated so that traffic runs on across the restart, each clip its own id
_PIECES = clips_of_pcm(vad.read_audio(REPO_ROOT / "asr_service" / "data" / "jfk.wav"), vad.VadOptions(max_clip_s=3.0))
CLIPS = [dataclasses.replace(c, index=i) for i, c in enumerate(c for _ in range(8) for c in _PIECES)]


class Server:
    """`asr serve` on a fixed port, so that its successor takes the same address."""

    def __init__(self, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "asr_service.cli", "serve", "--port", str(self.port)], stdout=out,
                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        with AsrClient(f"127.0.0.1:{self.port}") as client:
            client.wait_ready(120)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "server.log")
    running.start()
    yield running
    if running.proc is not None and running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait(10)


def test_a_killed_and_restarted_server_loses_and_repeats_no_clip(server: Server) -> None:
    target = f"127.0.0.1:{server.port}"
    traffic = TwoClients(target, CLIPS, stream_options=dict(retries=30, timeout_s=30, wait_for_ready=True,
                                                            encoding="ogg_opus"),
                         unary_options=dict(retries=30, timeout_s=60, wait_for_ready=True)).start()
    streamed, unary = traffic.streamed, traffic.unary
    wait_until(lambda: len(streamed) >= 5 and len(unary) >= 5, "no traffic before the kill", timeout_s=60)
    before = (len(streamed), len(unary))
    server.kill()  # mid-traffic, no warning: calls in flight break, the process's cache is gone
    server.start()  # its successor, on the same port
    traffic.join()
    assert not traffic.errors, traffic.errors
    assert before[0] < len(CLIPS) and before[1] < len(CLIPS)  # the kill landed while clips were still to go
    sent = [str(c.index) for c in CLIPS]
    assert [r.clip_id for r in streamed] == sent  # each clip once, in order: none lost, none repeated
    assert [r.clip_id for r in unary] == sent
    said = {piece.index: text for piece, text in zip(_PIECES, (r.text for r in unary), strict=False)}
    assert all(r.text == said[i % len(_PIECES)] for i, r in enumerate(unary))  # same audio, same text
    assert sum(bool(r.text) for r in streamed) >= 0.8 * len(streamed)  # Opus speech, transcribed
    print(f"\nrestart: {len(CLIPS)} clips each way; at the kill {before[0]} streamed and {before[1]} unary results "
          f"were in; after it {len(streamed) - before[0]} + {len(unary) - before[1]} more; lost 0, repeated 0")
