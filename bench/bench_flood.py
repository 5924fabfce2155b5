"""Connection flood: thousands of raw TCP connections that never speak gRPC; who gets locked out, for how long.

    python bench/bench_flood.py [--sockets 20000] [--hold-s 30] [--after-s 60] [--probe-s 0.25]

Starts `asr serve` (the embedded model, default settings) and, while two probes run, opens `--sockets`
plain TCP connections to its gRPC port from worker processes (each up to its own open-files limit),
sends nothing on them, and holds them `--hold-s` seconds unless the server closes them first:

- a **new client**: every `--probe-s`, a fresh channel (its own connection) asks the health service,
  with a 2 s deadline;
- an **established client**: one channel opened before the flood transcribes a real 3 s clip every
  `--probe-s` (it must never notice the flood).

Prints, for each probe, the failures and the longest run of them (the lockout), how many of the flood's
connections the server had closed after 5, 10, 15 and 30 s (`connection_handshake_timeout_s`, 10 s by
default, closes a connection that has not sent gRPC's preface), and the server's RSS before the flood,
at its peak and `--after-s` seconds after the last flood socket closed.

The attack that motivated it (issue 13): 20,000 raw connections exhausted the server's file descriptors
and locked new clients out for about 60 s; RSS grew 150 MB and was never given back.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import queue as queues
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_capacity import _free_port

from asr_service.client import AsrClient
from asr_service.server._app import SERVICE_NAME

SAMPLE_WAV = Path(__file__).resolve().parent.parent / "asr_service" / "data" / "jfk.wav"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _flood(port: int, count: int, hold_s: float, started: float, closed_at: mp.Queue) -> None:  # type: ignore[type-arg]
    """Open `count` connections, send nothing, report (seconds since `started`) when the server closes each."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets: list[socket.socket] = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            s.close()
            break
        sockets.append(s)
    times: list[float] = []
    open_ = set(sockets)
    deadline = time.monotonic() + hold_s
    while open_ and time.monotonic() < deadline:
        for s in list(open_):
            if _closed(s):
                times.append(time.monotonic() - started)
                open_.discard(s)
        time.sleep(0.5)
    for s in sockets:
        s.close()
    closed_at.put((len(sockets), times))


def _closed(s: socket.socket) -> bool:
    """Whether the server has closed `s` (what it sent first, its HTTP/2 preface, is read and dropped)."""
    while True:
        try:
            if not s.recv(65536, socket.MSG_DONTWAIT):
                return True
        except BlockingIOError:
            return False
        except OSError:  # reset: the server let go of it too
            return True


def _probe_new(target: str, until: threading.Event, every_s: float, out: list[tuple[float, bool]],
               started: float) -> None:
    while not until.is_set():
        t = time.monotonic() - started
        channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME),
                                                               timeout=2.0)
            out.append((t, reply.status == health_pb2.HealthCheckResponse.SERVING))
        except grpc.RpcError:
            out.append((t, False))
        finally:
            channel.close()
        until.wait(every_s)


def _probe_established(client: AsrClient, pcm: bytes, until: threading.Event, every_s: float,
                       out: list[tuple[float, bool, float]], started: float) -> None:
    while not until.is_set():
        t = time.monotonic() - started
        t0 = time.perf_counter()
        try:
            client.recognize(pcm, clip_id="probe")
            out.append((t, True, (time.perf_counter() - t0) * 1000))
        except Exception:  # any failure is what this probe counts
            out.append((t, False, (time.perf_counter() - t0) * 1000))
        until.wait(every_s)


def _longest_failure(samples: list[tuple[float, bool]]) -> float:
    """The longest stretch (s) from a failed probe to the next good one."""
    longest, since = 0.0, None
    for t, ok in samples:
        if not ok and since is None:
            since = t
        elif ok and since is not None:
            longest, since = max(longest, t - since), None
    if since is not None and samples:
        longest = max(longest, samples[-1][0] - since)
    return longest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=20_000)
    parser.add_argument("--hold-s", type=float, default=30.0)
    parser.add_argument("--after-s", type=float, default=60.0)
    parser.add_argument("--probe-s", type=float, default=0.25)
    args = parser.parse_args()
    port = _free_port()
    target = f"127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port),
                               "--log-level", "ERROR"])
    import soundfile as sf

    audio, _ = sf.read(str(SAMPLE_WAV), dtype="int16")  # 16 kHz mono
    pcm = audio[: 3 * 16_000].tobytes()
    try:
        client = AsrClient(target, timeout_s=30)
        client.wait_ready(120)
        client.recognize(pcm, clip_id="warm")
        rss_before = _rss_mb(server.pid)
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100
        workers = max(1, -(-args.sockets // limit))
        files = Path(f"/proc/{server.pid}/limits").read_text().split("Max open files")[1].split()[0]
        print(f"flood: {args.sockets} raw connections from {workers} process(es) against {target} "
              f"(server pid {server.pid}, its open-files limit {files})", flush=True)
        started = time.monotonic()
        until = threading.Event()
        new: list[tuple[float, bool]] = []
        established: list[tuple[float, bool, float]] = []
        probes = [threading.Thread(target=_probe_new, args=(target, until, args.probe_s, new, started)),
                  threading.Thread(target=_probe_established, args=(client, pcm, until, args.probe_s, established,
                                                                    started))]
        for p in probes:
            p.start()
        time.sleep(2.0)  # the probes' baseline
        flood_at = time.monotonic() - started
        queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        share = [args.sockets // workers + (i < args.sockets % workers) for i in range(workers)]
        procs = [mp.Process(target=_flood, args=(port, n, args.hold_s, started, queue)) for n in share]
        for proc in procs:
            proc.start()
        peak = rss_before
        results: list[tuple[int, list[float]]] = []
        while len(results) < len(procs):
            peak = max(peak, _rss_mb(server.pid))
            with contextlib.suppress(queues.Empty):
                results.append(queue.get(timeout=1.0))
        for proc in procs:
            proc.join()
        flood_end = time.monotonic() - started
        until.wait(5.0)  # the probes after the flood
        until.set()
        for p in probes:
            p.join()
        opened = sum(n for n, _ in results)
        closed = sorted(t - flood_at for _, times in results for t in times)
        time.sleep(max(0.0, args.after_s - 5.0))
        rss_after = _rss_mb(server.pid)
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(60)
    during_new = [(t, ok) for t, ok in new if t >= flood_at]
    during_est = [(t, ok) for t, ok, _ in established if t >= flood_at]
    est_ms = [ms for t, ok, ms in established if ok and t >= flood_at]
    base_ms = [ms for t, ok, ms in established if ok and t < flood_at]
    print(f"flood: {opened} connections opened in processes; held until {flood_end - flood_at:.0f} s after the "
          f"flood began")
    print("closed by the server after " + ", ".join(
        f"{s} s: {sum(c <= s for c in closed)}" for s in (5, 10, 15, 30)))
    print(f"new client (fresh connection, health, 2 s deadline): {sum(not ok for _, ok in during_new)} of "
          f"{len(during_new)} failed during and after the flood; longest lockout {_longest_failure(during_new):.1f} s")
    print(f"established client (real 3 s clip): {sum(not ok for _, ok in during_est)} of {len(during_est)} failed; "
          f"latency p50/p95 {np.percentile(est_ms, 50):.0f}/{np.percentile(est_ms, 95):.0f} ms during, "
          f"{np.percentile(base_ms, 50):.0f}/{np.percentile(base_ms, 95):.0f} ms before" if est_ms and base_ms else
          "established client: no answers")
    print(f"server RSS {rss_before:.0f} MB before, {peak:.0f} MB at peak, {rss_after:.0f} MB {args.after_s:g} s "
          f"after; server alive: {alive}")
    return 0 if alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
