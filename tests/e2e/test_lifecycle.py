"""Admission control, readiness while the model loads, graceful drain, and SIGTERM on `asr serve`."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from asr_service.config import ServerConfig
from asr_service.engines import Engine, EngineOptions
from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import GatedEngine

REQUEST = asr_pb2.RecognizeRequest(
    config=asr_pb2.RecognitionConfig(format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=16_000)),
    audio=(3000 * np.sin(np.arange(8000) / 5)).astype("<i2").tobytes(),
)


def _health(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return int(reply.status)


def test_too_many_concurrent_requests_are_refused() -> None:
    engine = GatedEngine()
    one_worker = ServerConfig(port=0, max_concurrent_requests=2, engine=EngineOptions(num_workers=1))
    running = BackgroundServer(one_worker, engine_factory=lambda _: engine).start()
    try:
        with grpc.insecure_channel(running.target) as channel, ThreadPoolExecutor(2) as pool:
            stub = asr_pb2_grpc.RecognizerStub(channel)
            held = [pool.submit(stub.Recognize, REQUEST, timeout=30) for _ in range(2)]
            assert engine.started.acquire(timeout=10)  # one is in the engine...
            deadline = time.monotonic() + 10
            while running.server.recognizer.in_flight < 2 and time.monotonic() < deadline:  # type: ignore[union-attr]
                time.sleep(0.01)
            assert not engine.started.acquire(timeout=0.2)  # ...and the other waits for the one worker
            with pytest.raises(grpc.RpcError) as info:
                stub.Recognize(REQUEST, timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "max_concurrent_requests=2" in info.value.details()
            engine.gate.set()
            results = [f.result(timeout=30).result for f in held]
            assert [r.text for r in results] == ["gated", "gated"]
            # The second one waited at least the 0.2 s the gate stayed shut after the refusal check.
            assert max(r.latency.queue_wait_ms for r in results) >= 200.0
            assert stub.Recognize(REQUEST, timeout=30).result.text == "gated"  # still answers
    finally:
        engine.gate.set()
        running.stop()


def test_a_cancelled_request_keeps_its_slot_until_the_worker_is_done() -> None:
    engine = GatedEngine()
    one_slot = ServerConfig(port=0, max_concurrent_requests=1, engine=EngineOptions(num_workers=1))
    running = BackgroundServer(one_slot, engine_factory=lambda _: engine).start()
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = asr_pb2_grpc.RecognizerStub(channel)
            with pytest.raises(grpc.RpcError) as gone:  # the client gives up; the worker carries on
                stub.Recognize(REQUEST, timeout=0.5)
            assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert engine.started.acquire(timeout=10)
            with pytest.raises(grpc.RpcError) as info:  # the worker is still busy: no room yet
                stub.Recognize(REQUEST, timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            engine.gate.set()
            deadline = time.monotonic() + 10
            while running.server.recognizer.in_flight and time.monotonic() < deadline:  # type: ignore[union-attr]
                time.sleep(0.01)
            assert stub.Recognize(REQUEST, timeout=30).result.text == "gated"
    finally:
        engine.gate.set()
        running.stop()


def test_a_cancelled_request_still_queued_never_reaches_the_engine() -> None:
    engine = GatedEngine()
    one_worker = ServerConfig(port=0, max_concurrent_requests=2, engine=EngineOptions(num_workers=1))
    running = BackgroundServer(one_worker, engine_factory=lambda _: engine).start()
    try:
        with grpc.insecure_channel(running.target) as channel, ThreadPoolExecutor(1) as pool:
            stub = asr_pb2_grpc.RecognizerStub(channel)
            held = pool.submit(stub.Recognize, REQUEST, timeout=30)
            assert engine.started.acquire(timeout=10)  # the one worker is busy...
            with pytest.raises(grpc.RpcError) as gone:  # ...so this one waits in the queue, and gives up
                stub.Recognize(REQUEST, timeout=0.5)
            assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            deadline = time.monotonic() + 10
            while running.server.recognizer.in_flight > 1 and time.monotonic() < deadline:  # type: ignore[union-attr]
                time.sleep(0.01)
            assert running.server.recognizer.in_flight == 1  # type: ignore[union-attr]  # its slot is free at once
            engine.gate.set()
            assert held.result(timeout=30).result.text == "gated"
            assert not engine.started.acquire(timeout=0.5)  # the queued job was dropped, not run
    finally:
        engine.gate.set()
        running.stop()


def test_not_serving_until_the_model_is_loaded() -> None:
    loaded = threading.Event()
    engine = GatedEngine()
    engine.gate.set()

    def slow_factory(options: EngineOptions) -> Engine:
        if not loaded.wait(30):
            raise TimeoutError("never released")
        return engine

    running = BackgroundServer(ServerConfig(port=0), engine_factory=slow_factory)
    starting = asyncio.run_coroutine_threadsafe(running.server.start(), running.loop)
    status = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                status = _health(running.target)
                break
            except grpc.RpcError:
                time.sleep(0.05)
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        with grpc.insecure_channel(running.target) as channel, pytest.raises(grpc.RpcError) as info:
            asr_pb2_grpc.RecognizerStub(channel).Recognize(REQUEST, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "still loading" in info.value.details()
        loaded.set()
        starting.result(30)
        assert _health(running.target) == health_pb2.HealthCheckResponse.SERVING
    finally:
        loaded.set()
        running.stop()


def test_graceful_shutdown_drains_in_flight_work() -> None:
    engine = GatedEngine()
    running = BackgroundServer(ServerConfig(port=0, shutdown_notice_s=2.0), engine_factory=lambda _: engine).start()
    with grpc.insecure_channel(running.target) as channel, ThreadPoolExecutor(1) as pool:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        in_flight = pool.submit(stub.Recognize, REQUEST, timeout=30)
        assert engine.started.acquire(timeout=10)
        stopping = threading.Thread(target=running.stop, kwargs={"grace_s": 10.0})
        stopping.start()
        deadline = time.monotonic() + 5
        while _health_or_none(running.target) != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health never went NOT_SERVING while draining"
            time.sleep(0.02)
        with pytest.raises(grpc.RpcError) as info:  # new work is refused while draining
            stub.Recognize(REQUEST, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE and "draining" in info.value.details()
        engine.gate.set()
        assert in_flight.result(timeout=30).result.text == "gated"  # drained, not cancelled
        stopping.join(30)
    assert engine.closed


def _health_or_none(target: str) -> int | None:
    try:
        return _health(target)
    except grpc.RpcError:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_asr_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    try:
        target = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while _health_or_none(target) != health_pb2.HealthCheckResponse.SERVING:
            assert proc.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server never became SERVING"
            time.sleep(0.1)
        with grpc.insecure_channel(target) as channel:
            reply = asr_pb2_grpc.RecognizerStub(channel).Recognize(REQUEST, timeout=30)
        assert reply.result.model.model_id
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log_path.read_text()
    assert "signal received: shutting down" in output
    assert "stopped: 0 call(s) open at shutdown" in output
    assert "outcome=OK" in output  # one log line per request
