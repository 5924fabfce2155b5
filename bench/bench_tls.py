"""What TLS costs per request on loopback: the same clips to a plain-text server and a TLS server, in turn.

    python bench/bench_tls.py [--requests 300] [--clip-s 3] [--mutual]

Starts two servers in this process with the embedded model (one plain text, one with TLS from
certificates made by Debian's `openssl`, mutual with `--mutual`), then sends the same clip to each in
turn over one open channel each. Per request it takes the transport's share: the client's round trip
minus the server's own time (queue + inference), so the model's time, which TLS does not touch, does
not hide it. Prints p50/p95 of that overhead for both servers and their difference (the target: TLS
adds under 2 ms p95), and the cost of a new connection (channel, handshake, first request) for each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from asr_service.client import AsrClient  # noqa: E402
from asr_service.config import ServerConfig  # noqa: E402
from asr_service.server import BackgroundServer  # noqa: E402


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, and a client certificate."""
    files = {name: folder / name for name in ("ca.key", "ca.pem", "server.key", "server.pem", "client.key",
                                              "client.pem")}
    _openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", files["ca.key"], "-out",
             files["ca.pem"], "-days", "2", "-subj", "/CN=bench-ca")
    for name, ext in (("server", "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n"),
                      ("client", "extendedKeyUsage = clientAuth\n")):
        (folder / f"{name}.ext").write_text(ext)
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", files[f"{name}.key"], "-out",
                 folder / f"{name}.csr", "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", folder / f"{name}.csr", "-CA", files["ca.pem"], "-CAkey", files["ca.key"],
                 "-CAcreateserial", "-days", "2", "-extfile", folder / f"{name}.ext", "-out", files[f"{name}.pem"])
    return files


def _clip(seconds: float) -> bytes:
    t = np.arange(int(16_000 * seconds)) / 16_000
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (tone * 32767).astype(np.int16).tobytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests to each server")
    parser.add_argument("--clip-s", type=float, default=3.0)
    parser.add_argument("--mutual", action="store_true", help="mutual TLS (the client shows a certificate)")
    args = parser.parse_args()
    audio = _clip(args.clip_s)
    with tempfile.TemporaryDirectory() as tmp:
        pki = _certificates(Path(tmp))
        plain = BackgroundServer(ServerConfig(port=0, shutdown_notice_s=0.0)).start()
        tls = BackgroundServer(ServerConfig(
            port=0, shutdown_notice_s=0.0, tls_cert_file=str(pki["server.pem"]), tls_key_file=str(pki["server.key"]),
            tls_client_ca_file=str(pki["ca.pem"]) if args.mutual else None)).start()
        client_tls = {"tls_ca_file": str(pki["ca.pem"])}
        if args.mutual:
            client_tls |= {"tls_cert_file": str(pki["client.pem"]), "tls_key_file": str(pki["client.key"])}
        try:
            overhead: dict[str, list[float]] = {"plain": [], "tls": []}
            connect: dict[str, list[float]] = {"plain": [], "tls": []}
            with AsrClient(plain.target) as to_plain, AsrClient(tls.target, **client_tls) as to_tls:
                for client in (to_plain, to_tls):
                    client.recognize(audio)  # warm-up: connection and first inference
                for i in range(args.requests):
                    pairs = [("plain", to_plain), ("tls", to_tls)]
                    for name, client in pairs if i % 2 == 0 else pairs[::-1]:
                        result = client.recognize(audio)
                        overhead[name].append(result.round_trip_ms - result.latency.server_total_ms)
            for _ in range(20):  # a new connection each time: channel, (TLS handshake), first request
                for name, target, extra in (("plain", plain.target, {}), ("tls", tls.target, client_tls)):
                    started = time.perf_counter()
                    with AsrClient(target, **extra) as fresh:  # type: ignore[arg-type]
                        result = fresh.recognize(audio)
                    connect[name].append((time.perf_counter() - started) * 1000 - result.latency.server_total_ms)
        finally:
            plain.stop(1.0)
            tls.stop(1.0)
    kind = "mutual TLS" if args.mutual else "TLS"
    print(f"{args.requests} requests of a {args.clip_s:g} s clip to each server, in turn; {kind} on loopback")
    print(f"{'':10} {'overhead p50':>13} {'p95':>8} {'new connection p50':>19} {'p95':>8}   (ms, client minus server)")
    for name in ("plain", "tls"):
        o, c = np.array(overhead[name]), np.array(connect[name])
        print(f"{name:10} {np.percentile(o, 50):13.2f} {np.percentile(o, 95):8.2f} "
              f"{np.percentile(c, 50):19.2f} {np.percentile(c, 95):8.2f}")
    added = np.percentile(overhead["tls"], 95) - np.percentile(overhead["plain"], 95)
    print(f"\nTLS adds {added:.2f} ms at p95 per request on an open connection (target: under 2 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
