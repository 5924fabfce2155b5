"""What the HAProxy in front of the replicas adds to a request (ops/haproxy), on loopback.

One `asr serve` (in this process) and a real HAProxy in front of it, configured by
ops/haproxy/haproxy_config.py. Real speech clips (the shipped JFK recording, the default VAD's clips)
are sent with `Recognize`, alternating request by request between the server's own port and the
proxy's, so that the host's noise hits both alike; p50/p95 of the client's round trip each way, and the
difference. `--engine stub` (default) answers at once, so the difference is the proxy alone;
`--engine tiny.en` runs the embedded model (the difference drowns in the model's own spread).

    python bench/bench_proxy.py [--requests 1000] [--engine stub|tiny.en]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from bench_request_logging_server import StubEngine  # noqa: E402

import vad  # noqa: E402
from asr_service.client import AsrClient  # noqa: E402
from asr_service.client._baseline import clips_of_pcm  # noqa: E402
from asr_service.config import ServerConfig  # noqa: E402
from asr_service.engines import create_engine  # noqa: E402
from asr_service.server import BackgroundServer  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests each way")
    parser.add_argument("--engine", choices=("stub", "tiny.en"), default="stub")
    args = parser.parse_args()
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        sys.exit("needs haproxy (Debian package haproxy)")
    clips = clips_of_pcm(vad.read_audio(REPO_ROOT / "asr_service" / "data" / "jfk.wav"), vad.VadOptions())
    server = BackgroundServer(ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0),
                              engine_factory=StubEngine if args.engine == "stub" else create_engine).start()
    http_port = server.server.monitor.http_port
    listen = _free_port()
    with tempfile.TemporaryDirectory(prefix="asr-bench-proxy-") as tmp:
        config = Path(tmp) / "haproxy.cfg"
        made = subprocess.run([sys.executable, str(REPO_ROOT / "ops" / "haproxy" / "haproxy_config.py"), "--listen",
                               f"127.0.0.1:{listen}", "--replica", f"127.0.0.1:{server.port}/{http_port}"],
                              check=True, capture_output=True, text=True)
        config.write_text(made.stdout.replace("    log stdout format raw local0 info", "    # no logging"))
        proxy = subprocess.Popen([haproxy, "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times: dict[str, list[float]] = {"direct": [], "proxy": []}
        try:
            time.sleep(2.5)  # two health checks: the replica is up in HAProxy
            with AsrClient(server.target) as direct, AsrClient(f"127.0.0.1:{listen}") as via_proxy:
                for client in (direct, via_proxy):  # connections made, paths warm
                    for clip in clips * 3:
                        client.recognize_clip(clip)
                for i in range(args.requests):
                    clip = clips[i % len(clips)]
                    order = (("direct", direct), ("proxy", via_proxy)) if i % 2 else (("proxy", via_proxy),
                                                                                      ("direct", direct))
                    for name, client in order:
                        times[name].append(client.recognize_clip(clip).round_trip_ms)
        finally:
            proxy.terminate()
            proxy.wait(10)
            server.stop(1.0)
    p = {name: np.percentile(values, [50, 95]) for name, values in times.items()}
    row = {"engine": args.engine, "requests": args.requests,
           "direct_p50_ms": round(float(p["direct"][0]), 3), "proxy_p50_ms": round(float(p["proxy"][0]), 3),
           "direct_p95_ms": round(float(p["direct"][1]), 3), "proxy_p95_ms": round(float(p["proxy"][1]), 3),
           "added_p50_ms": round(float(p["proxy"][0] - p["direct"][0]), 3),
           "added_p95_ms": round(float(p["proxy"][1] - p["direct"][1]), 3)}
    print(json.dumps(row))
    print(f"\n{'':8} {'p50 ms':>8} {'p95 ms':>8}\n{'direct':8} {row['direct_p50_ms']:>8} {row['direct_p95_ms']:>8}\n"
          f"{'proxy':8} {row['proxy_p50_ms']:>8} {row['proxy_p95_ms']:>8}\n"
          f"{'added':8} {row['added_p50_ms']:>8} {row['added_p95_ms']:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
