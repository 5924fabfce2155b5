"""Idle streams do not slow other clients: one client holds streams open and silent, another is served.

    python bench/bench_idle_streams.py [--streams 200] [--clips 60] [--rounds 2]

Starts `asr serve` (the embedded model). In turn, `--rounds` times: the measured client sends
`--clips` real clips of 2-8 s from the shared speech one after another with `Recognize`, first with no
other traffic, then while a second client holds `--streams` StreamingRecognize streams open (each sent
its config and then nothing, as a slowloris client would; 100 streams to a connection, the server's
limit per connection). Prints the measured client's server p50/p95
in both phases and their ratio (the target: p95 within 10 %), and how many idle streams the server
still held at the end of each loaded phase.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_capacity import _FORMAT, SPEECH, _free_port, load_clips

import vad
from asr_service.client import AsrClient
from protos.asr.v1 import asr_pb2, asr_pb2_grpc


def _measure(target: str, clips: list, n: int, seed: int) -> list[float]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    out = []
    # its own connection: gRPC would otherwise share one between channels to the same target, and the
    # idle client's streams would fill that connection's stream limit (grpc.max_concurrent_streams)
    with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        for _ in range(n):
            clip = clips[int(rng.integers(len(clips)))]
            reply = stub.Recognize(asr_pb2.RecognizeRequest(config=_FORMAT, audio=clip.pcm), timeout=60)
            out.append(reply.result.latency.server_total_ms)
    return out


def _hold(target: str, count: int, release: threading.Event) -> list[grpc.Future]:  # type: ignore[type-arg]
    """`count` streams that send their config and then wait for `release`, 100 to a connection (the
    server's streams-per-connection limit: a 101st would wait in the client, never reach the server)."""
    stubs = [asr_pb2_grpc.RecognizerStub(grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]))
             for _ in range((count + 99) // 100)]

    def silent() -> object:
        yield asr_pb2.StreamingRecognizeRequest(config=asr_pb2.RecognitionConfig(format=_FORMAT.format))
        release.wait()

    return [stubs[i // 100].StreamingRecognize(silent(), timeout=600) for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_idle_streams: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    clips = load_clips(vad.VadOptions())
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port),
                               "--log-level", "ERROR"])
    target = f"127.0.0.1:{port}"
    quiet: list[float] = []
    loaded: list[float] = []
    try:
        with AsrClient(target, timeout_s=120) as client:
            client.wait_ready(120)
        _measure(target, clips, 10, 0)  # warm-up
        for r in range(args.rounds):
            quiet += _measure(target, clips, args.clips, 100 + r)
            release = threading.Event()
            calls = _hold(target, args.streams, release)
            time.sleep(2.0)  # every stream open and idle
            loaded += _measure(target, clips, args.clips, 100 + r)  # the same clips as the quiet phase
            still_open = sum(1 for c in calls if not c.done())
            release.set()
            for c in calls:
                c.cancel()
            print(f"round {r + 1}: {still_open} of {args.streams} idle streams open at the end of the loaded phase",
                  flush=True)
    finally:
        server.terminate()
        server.wait(60)
    q95, l95 = np.percentile(quiet, 95), np.percentile(loaded, 95)
    print(f"measured client, {len(quiet)} clips each way: alone p50/p95 {np.percentile(quiet, 50):.0f}/{q95:.0f} ms; "
          f"beside {args.streams} idle streams {np.percentile(loaded, 50):.0f}/{l95:.0f} ms; "
          f"p95 ratio {l95 / q95:.2f} (target within 10 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
