"""Two `asr serve` replicas behind a real HAProxy (ops/haproxy), real speech streamed and sent through it,
one replica stopped with SIGTERM and its successor started, then the other SIGKILLed mid-traffic and
replaced: with the client's retry policy every clip gets exactly one result, in order, and none is lost.
Also gRPC's own client-side round-robin over the two addresses, skipping a draining replica."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
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
HAPROXY = shutil.which("haproxy")
CLIPS = clips_of_pcm(vad.read_audio(REPO_ROOT / "asr_service" / "data" / "jfk.wav"),
                     vad.VadOptions(max_clip_s=3.0))  # real speech, a few short clips




class Replica:
    """An `asr serve` process on fixed ports, so that a successor takes its place behind the proxy."""

    def __init__(self, log: Path) -> None:
        self.grpc_port, self.http_port, self.log = free_port(), free_port(), log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ASR_SHUTDOWN_NOTICE_S": "2.5", "ASR_DRAIN_TIMEOUT_S": "3"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "asr_service.cli", "serve", "--port", str(self.grpc_port), "--http-port",
                 str(self.http_port)], stdout=out, stderr=subprocess.STDOUT, env=env)
        with AsrClient(f"127.0.0.1:{self.grpc_port}") as client:
            client.wait_ready(120)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self) -> int:
        assert self.proc is not None
        return self.proc.wait(60)


def _up_in_proxy(stats_port: int, server: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/;csv", timeout=5) as reply:
            rows = [line.split(",") for line in reply.read().decode().splitlines()]
    except OSError:  # HAProxy still starting
        return False
    return any(r[0] == "asr_replicas" and r[1] == server and r[17].startswith("UP") for r in rows if len(r) > 17)


@pytest.fixture()
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    started = [Replica(tmp_path / "a.log"), Replica(tmp_path / "b.log")]
    for replica in started:
        replica.start()
    yield started
    for replica in started:
        if replica.proc is not None and replica.proc.poll() is None:
            replica.proc.kill()
            replica.proc.wait(10)


@pytest.mark.skipif(HAPROXY is None, reason="needs haproxy (Debian package haproxy; scripts/install-system-deps)")
def test_failover_behind_haproxy_loses_and_repeats_nothing(replicas: list[Replica], tmp_path: Path) -> None:
    a, b = replicas
    listen, stats = free_port(), free_port()
    config = tmp_path / "haproxy.cfg"
    generated = subprocess.run(
        [sys.executable, str(REPO_ROOT / "ops" / "haproxy" / "haproxy_config.py"), "--listen", f"127.0.0.1:{listen}",
         "--replica", f"127.0.0.1:{a.grpc_port}/{a.http_port}", "--replica", f"127.0.0.1:{b.grpc_port}/{b.http_port}",
         "--stats", f"127.0.0.1:{stats}"], check=True, capture_output=True, text=True)
    config.write_text(generated.stdout)
    assert subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True).returncode == 0  # type: ignore[list-item]
    with (tmp_path / "haproxy.log").open("w") as out:
        proxy = subprocess.Popen([HAPROXY, "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)  # type: ignore[list-item]
    try:
        wait_until(lambda: _up_in_proxy(stats, "r1") and _up_in_proxy(stats, "r2"),
                   "HAProxy never saw both replicas up")
        target = f"127.0.0.1:{listen}"
        stop = threading.Event()  # traffic runs until the kill is behind it, however fast the host
        traffic = TwoClients(target, CLIPS, stream_options=dict(retries=20, timeout_s=30),
                             unary_options=dict(retries=4, timeout_s=30), until=stop).start()
        streamed, unary = traffic.streamed, traffic.unary
        wait_until(lambda: len(streamed) > 10 and len(unary) > 10, "no traffic got through the proxy")
        a.signal(signal.SIGTERM)  # graceful: NOT_SERVING, out of the proxy's rotation, then drained
        assert a.wait() == 0
        a.start()  # its successor, on the same ports
        wait_until(lambda: _up_in_proxy(stats, "r1"), "the successor never came back into rotation")
        progress = len(streamed) + len(unary)
        wait_until(lambda: len(streamed) + len(unary) > progress + 10, "traffic stalled after the restart")
        b.signal(signal.SIGKILL)  # mid-traffic, no warning
        b.wait()
        b.start()
        progress = len(streamed) + len(unary)
        wait_until(lambda: len(streamed) + len(unary) > progress + 10, "traffic stalled after the kill")
        stop.set()
        traffic.join()
        assert not traffic.errors, traffic.errors
    finally:
        proxy.terminate()
        proxy.wait(10)
    clips = traffic.sent_streamed
    assert [r.clip_id for r in streamed] == [str(c.index) for c in clips]  # each clip once, in order
    assert len(unary) == len(traffic.sent_unary)
    said = {c.index: r.text for c, r in zip(traffic.sent_unary, unary, strict=True)}
    assert all(r.text == said[c.index] for c, r in zip(clips, streamed, strict=True))  # same audio, same text
    assert sum(bool(r.text) for r in unary) >= 0.8 * len(unary)  # real speech, transcribed (a piece may be silence)
    assert len({r.model_version for r in unary}) == 1  # every replica serves the same model


def test_client_side_round_robin_skips_a_draining_replica(replicas: list[Replica]) -> None:
    a, b = replicas
    target = f"ipv4:127.0.0.1:{a.grpc_port},127.0.0.1:{b.grpc_port}"
    with AsrClient(target, load_balancing="round_robin", retries=4, timeout_s=30) as client:
        for clip in CLIPS * 2:
            client.recognize_clip(clip)
        served = [_transcripts(r.http_port) for r in (a, b)]
        assert all(n > 0 for n in served), served  # both replicas answered: calls were spread
        a.signal(signal.SIGTERM)  # NOT_SERVING at once; its port stays open for shutdown_notice_s
        time.sleep(0.5)
        before_b = _transcripts(b.http_port)
        for clip in CLIPS * 3:  # all answered: by b, or retried there
            client.recognize_clip(clip)
        assert _transcripts(b.http_port) - before_b >= len(CLIPS) * 3 - 1  # a went out of rotation at once
        assert a.wait() == 0


def _transcripts(http_port: int) -> float:
    """Results a replica returned, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as reply:
        lines = reply.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith("asr_transcripts_total{"))


@pytest.mark.skipif(HAPROXY is None, reason="needs haproxy (Debian package haproxy; scripts/install-system-deps)")
def test_the_generated_configuration_is_valid_and_bad_replicas_are_refused(tmp_path: Path) -> None:
    script = str(REPO_ROOT / "ops" / "haproxy" / "haproxy_config.py")
    made = subprocess.run([sys.executable, script, "--listen", "0.0.0.0:50051", "--replica", "10.0.0.11:50051/9464",
                           "--replica", "10.0.0.12:50051/9464"], capture_output=True, text=True, check=True)
    config = tmp_path / "asr.cfg"
    config.write_text(made.stdout)
    checked = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True)  # type: ignore[list-item]
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert made.stdout.count(" check port 9464") == 2 and "bind 0.0.0.0:50051 proto h2" in made.stdout
    bad = subprocess.run([sys.executable, script, "--listen", "0.0.0.0:50051", "--replica", "10.0.0.11:50051"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "HOST:GRPC_PORT/HTTP_PORT" in bad.stderr
