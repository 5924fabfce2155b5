"""Per-client quotas: a greedy client gets RESOURCE_EXHAUSTED with a retry hint, a polite one keeps being
served (clients named by their tokens)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from asr_service.auth import hash_token
from asr_service.config import ServerConfig
from asr_service.server import BackgroundServer
from asr_service.server._quotas import ClientQuotas, QuotaExceeded
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import FakeEngine, tone_bytes

AUDIO = tone_bytes(0.5, 0.3)
REQUEST = asr_pb2.RecognizeRequest(
    config=asr_pb2.RecognitionConfig(format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=16_000)),
    audio=AUDIO)


def _token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.toml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'[[token]]\nclient = "{name}"\nsha256 = "{hash_token(name + "-token")}"\n'
                            'scopes = ["recognize"]\n' for name in ("greedy", "polite")))
    return path


def _contest(tmp_path: Path, client_max_concurrent: int) -> dict[str, object]:
    """Six greedy threads and one polite caller for 2.5 s; what each got."""
    config = ServerConfig(port=0, shutdown_notice_s=0.0, max_concurrent_requests=4,
                          client_max_concurrent=client_max_concurrent, auth_tokens_file=str(_token_file(tmp_path)))
    server = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="ok", delay_s=0.05)).start()
    stop = time.monotonic() + 2.5
    greedy: dict[str, int] = {"ok": 0, "refused": 0}
    hints: list[str] = []
    polite_ms: list[float] = []
    polite_refused = 0
    lock = threading.Lock()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = asr_pb2_grpc.RecognizerStub(channel)

            def flood() -> None:
                while time.monotonic() < stop:
                    try:
                        stub.Recognize(REQUEST, timeout=10, metadata=(("authorization", "Bearer greedy-token"),))
                        outcome = "ok"
                    except grpc.RpcError as exc:
                        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, exc
                        outcome = "refused"
                        with lock:
                            hints.extend(v for k, v in (exc.trailing_metadata() or ()) if k == "retry-after-ms")
                            hints.append(exc.details())
                    with lock:
                        greedy[outcome] += 1

            threads = [threading.Thread(target=flood) for _ in range(6)]
            for t in threads:
                t.start()
            time.sleep(0.3)
            while time.monotonic() < stop - 0.2:
                try:
                    reply = stub.Recognize(REQUEST, timeout=10, metadata=(("authorization", "Bearer polite-token"),))
                    polite_ms.append(reply.result.latency.server_total_ms)
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    polite_refused += 1
                time.sleep(0.1)
            for t in threads:
                t.join()
    finally:
        server.stop(1.0)
    return {"greedy": greedy, "hints": hints, "polite_ms": polite_ms, "polite_refused": polite_refused}


def test_a_greedy_client_cannot_starve_a_polite_one(tmp_path: Path) -> None:
    shared = _contest(tmp_path / "a", client_max_concurrent=4)  # no per-client share: the server's 4 slots
    fair = _contest(tmp_path / "b", client_max_concurrent=0)  # the default: half the slots each
    assert shared["polite_refused"] > 0  # the flood took every slot
    assert fair["polite_refused"] == 0 and len(fair["polite_ms"]) >= 10  # type: ignore[arg-type]
    assert fair["greedy"]["refused"] > 0 and fair["greedy"]["ok"] > 0  # type: ignore[index]
    hints = fair["hints"]
    assert any("client greedy: 2 clips in flight" in h and "retry in about" in h for h in hints)  # type: ignore[attr-defined]
    assert any(h.isdigit() for h in hints)  # type: ignore[attr-defined]  # the retry-after-ms trailer
    # the polite client's clips wait at most behind the greedy one's share: 2 workers, 50 ms clips
    assert float(np.percentile(fair["polite_ms"], 95)) < 200.0  # type: ignore[arg-type]


def test_the_rate_quota_refills_over_a_second() -> None:
    now = [100.0]
    quotas = ClientQuotas(max_concurrent=10, max_clips_per_s=2.0, retry_hint_ms=lambda: 50, clock=lambda: now[0])
    for _ in range(2):
        with quotas.admit("app"):
            pass
    refused = pytest.raises(QuotaExceeded, match=r"more than 2 clips a second .* retry in about 500 ms")
    with refused as info, quotas.admit("app"):
        pass
    assert info.value.retry_after_ms == 500
    now[0] += 0.5  # one clip's worth back
    with quotas.admit("app"):
        pass
    with quotas.admit("other"):  # each client its own bucket
        pass
