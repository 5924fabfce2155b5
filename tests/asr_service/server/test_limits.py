"""What a client may send: ids, VAD figures, bytes that do not parse, and streams that go quiet or run on.

Each case failed before the limits existed (issue 13): a newline in a request id forged a log line, a
4 MiB id wrote 4 MiB of log, a NaN speech ratio poisoned the metrics, a 100 KB model id made the
error too large to send (RESOURCE_EXHAUSTED instead of NOT_FOUND), bytes that are not a request
answered UNKNOWN with a traceback, and a stream that sent nothing stayed open for good.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

import vad
from asr_service.client import AsrClient
from asr_service.config import ServerConfig
from asr_service.errors import ConfigError
from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import FakeEngine, tone_bytes

AUDIO = tone_bytes(1.0, 0.3)
FORMAT = asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=16_000)


@pytest.fixture()
def server() -> Iterator[BackgroundServer]:
    config = ServerConfig(port=0, shutdown_notice_s=0.0, stream_first_message_timeout_s=1.0,
                          stream_idle_timeout_s=1.5, stream_max_clips=3)
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="hello")).start()
    yield running
    running.stop(1.0)


def _recognize(target: str, **fields: object) -> grpc.RpcError | asr_pb2.RecognizeResponse:
    request = asr_pb2.RecognizeRequest(config=asr_pb2.RecognitionConfig(format=FORMAT), audio=AUDIO, **fields)
    with grpc.insecure_channel(target) as channel:
        try:
            return asr_pb2_grpc.RecognizerStub(channel).Recognize(request, timeout=10)
        except grpc.RpcError as exc:
            return exc


def _code(answer: object) -> grpc.StatusCode:
    return answer.code() if isinstance(answer, grpc.RpcError) else grpc.StatusCode.OK  # type: ignore[no-any-return]


def test_ids_are_checked_before_they_reach_a_log_line(
    server: BackgroundServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="asr_service.requests")
    forged = _recognize(server.target, request_id="ok\nRecognize request_id=admin outcome=OK")
    assert _code(forged) == grpc.StatusCode.INVALID_ARGUMENT
    assert "control characters" in forged.details()  # type: ignore[union-attr]
    huge = _recognize(server.target, request_id="x" * (4 << 20))
    assert _code(huge) == grpc.StatusCode.INVALID_ARGUMENT and "4194304 characters" in huge.details()  # type: ignore[union-attr]
    assert all("\n" not in r.getMessage() and len(r.getMessage()) < 1000 for r in caplog.records)
    # a long model id: NOT_FOUND-class refusal that fits in a reply, not RESOURCE_EXHAUSTED
    long_model = asr_pb2.RecognizeRequest(
        config=asr_pb2.RecognitionConfig(format=FORMAT, model_id="m" * 100_000), audio=AUDIO)
    with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as info:
        asr_pb2_grpc.RecognizerStub(channel).Recognize(long_model, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and len(info.value.details()) < 200
    assert _code(_recognize(server.target, request_id="fine-id", clip_id="c1")) == grpc.StatusCode.OK


def test_vad_figures_must_be_finite(server: BackgroundServer) -> None:
    for bad in (asr_pb2.VadStats(speech_ratio=math.nan), asr_pb2.VadStats(speech_ratio=1.5),
                asr_pb2.VadStats(speech_ratio=0.5, gain_db=math.inf)):
        answer = _recognize(server.target, vad_stats=bad)
        assert _code(answer) == grpc.StatusCode.INVALID_ARGUMENT and "vad_stats." in answer.details()  # type: ignore[union-attr]
    assert _code(_recognize(server.target, vad_stats=asr_pb2.VadStats(speech_ratio=0.7))) == grpc.StatusCode.OK


def test_bytes_that_do_not_parse_are_invalid_argument(server: BackgroundServer) -> None:
    garbage = [b"\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", os.urandom(64), b"\x12\x05ab"]
    with grpc.insecure_channel(server.target) as channel:
        unary = channel.unary_unary("/asr.v1.Recognizer/Recognize")
        stream = channel.stream_stream("/asr.v1.Recognizer/StreamingRecognize")
        for data in garbage:
            try:
                unary(data, timeout=10)
            except grpc.RpcError as exc:
                # INVALID_ARGUMENT naming the message, or (for bytes that happen to parse) a
                # message-level refusal; never UNKNOWN or INTERNAL
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (data, exc.code(), exc.details())
        with pytest.raises(grpc.RpcError) as info:
            list(stream(iter([b"\xff\xff\xff"]), timeout=10))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "asr.v1.StreamingRecognizeRequest" in info.value.details()


def _stream(
    target: str, messages: Iterator[asr_pb2.StreamingRecognizeRequest]
) -> tuple[list[str], grpc.RpcError | None]:
    texts: list[str] = []
    with grpc.insecure_channel(target) as channel:
        try:
            for reply in asr_pb2_grpc.RecognizerStub(channel).StreamingRecognize(messages, timeout=20):
                texts.append(reply.result.text)
        except grpc.RpcError as exc:
            return texts, exc
    return texts, None


def _config_message() -> asr_pb2.StreamingRecognizeRequest:
    return asr_pb2.StreamingRecognizeRequest(config=asr_pb2.RecognitionConfig(format=FORMAT))


def _clip(i: int) -> asr_pb2.StreamingRecognizeRequest:
    chunk = asr_pb2.AudioChunk(clip_id=str(i), data=AUDIO, end_of_utterance=True)
    return asr_pb2.StreamingRecognizeRequest(audio=chunk)


def test_quiet_streams_are_cut_and_counted(server: BackgroundServer) -> None:
    hold = threading.Event()

    def silent() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
        hold.wait(10)  # never sends a thing
        yield from ()

    started = time.monotonic()
    texts, error = _stream(server.target, silent())
    assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "no first message within 1 s" in error.details() and time.monotonic() - started < 5
    hold.set()

    def config_then_silence() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
        yield _config_message()
        yield _clip(0)
        time.sleep(3.0)  # past stream_idle_timeout_s (1.5 s)
        yield _clip(1)

    texts, error = _stream(server.target, config_then_silence())
    assert texts == ["hello"] and error is not None and "no message for 1.5 s" in error.details()
    metrics = server.server.monitor.registry
    assert metrics.get_sample_value("asr_streams_cut_total", {"limit": "first_message"}) == 1
    assert metrics.get_sample_value("asr_streams_cut_total", {"limit": "idle"}) == 1


def test_keepalives_hold_a_live_session_and_clips_per_stream_are_bounded(server: BackgroundServer) -> None:
    def live() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
        yield _config_message()
        yield _clip(0)
        for _ in range(3):  # a long silence, with a keepalive (an empty chunk) every second
            time.sleep(1.0)
            yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk())
        yield _clip(1)

    texts, error = _stream(server.target, live())
    assert error is None and texts == ["hello", "hello"]  # the keepalives made no clip
    texts, error = _stream(server.target, iter([_config_message(), *(_clip(i) for i in range(5))]))
    assert texts == ["hello"] * 3 and error is not None and "more than 3 clips" in error.details()


def test_shutdown_counts_the_open_calls(caplog: pytest.LogCaptureFixture) -> None:
    config = ServerConfig(port=0, shutdown_notice_s=0.0, stream_idle_timeout_s=30.0)
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="hi")).start()
    release = threading.Event()

    def idle() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
        yield _config_message()
        release.wait(15)

    channel = grpc.insecure_channel(running.target)
    calls = [asr_pb2_grpc.RecognizerStub(channel).StreamingRecognize(idle(), timeout=20) for _ in range(3)]
    deadline = time.monotonic() + 10
    # open, and each config message read: a stream whose config is read after the drain began is refused
    # (UNAVAILABLE) and is no longer open at the count
    while running.server._calls.open_calls < 3 or _messages_received(running) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    caplog.set_level(logging.INFO, logger="asr_service.server._app")
    running.stop(0.5)
    release.set()
    for call in calls:
        call.cancel()
    channel.close()
    assert any("stopped: 3 call(s) open at shutdown (0 clip(s) in the engine)" in r.getMessage()
               for r in caplog.records)


def _messages_received(running: BackgroundServer) -> float:
    return sum(sample.value for metric in running.server._calls.received.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


def test_the_client_keeps_a_silent_live_stream_open(server: BackgroundServer) -> None:
    # A live source: a clip, a silence longer than the server's idle limit (1.5 s), another clip.
    pcm = np.frombuffer(AUDIO, dtype=np.int16)
    stats = vad.ClipStats(speech_ratio=0.8, pre_padding_ms=300, post_padding_ms=300, gain_db=0.0, split=False,
                          rms_dbfs=-13.5, peak_dbfs=-10.5)

    def live() -> Iterator[vad.Clip]:
        for i in range(2):
            if i:
                time.sleep(3.0)
            yield vad.Clip(index=i, pcm=pcm, start_s=4.0 * i, end_s=4.0 * i + 1, speech_start_s=4.0 * i,
                           speech_end_s=4.0 * i + 1, stats=stats)

    with AsrClient(server.target) as client:
        texts = [r.text for r in client.stream(live(), lockstep=True, keepalive_s=0.5)]
    assert texts == ["hello", "hello"]


def test_raw_connections_that_never_speak_are_closed() -> None:
    # A socket that never sends the HTTP/2 preface holds a file descriptor; 20,000 of them once locked
    # new clients out for a minute. They are closed after connection_handshake_timeout_s.
    config = ServerConfig(port=0, shutdown_notice_s=0.0, connection_handshake_timeout_s=1.0)
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="hi")).start()
    try:
        socks = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(20)]
        started = time.monotonic()
        for sock in socks:
            sock.settimeout(10)
            with sock:
                while sock.recv(4096):  # the server's own preface, then the close
                    pass
        assert time.monotonic() - started < 5
        with AsrClient(running.target) as client:  # and a real client is still served
            assert client.recognize(AUDIO).text == "hi"
    finally:
        running.stop(1.0)


def test_freed_memory_goes_back_to_the_os_on_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    # glibc keeps freed pages: after a connection flood RSS stayed 250 MB up until something trimmed it.
    from asr_service.server import _app

    trims: list[float] = []
    monkeypatch.setattr(_app, "release_free_memory", lambda: trims.append(time.monotonic()))
    config = ServerConfig(port=0, shutdown_notice_s=0.0, memory_trim_interval_s=1.0)
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="hi")).start()
    try:
        deadline = time.monotonic() + 10
        while len(trims) < 2:
            assert time.monotonic() < deadline, trims
            time.sleep(0.1)
    finally:
        running.stop(1.0)
    stopped = len(trims)
    time.sleep(1.5)
    assert len(trims) == stopped  # the timer stops with the server


def test_the_memory_trim_interval_is_checked() -> None:
    assert ServerConfig(memory_trim_interval_s=0.0).memory_trim_interval_s == 0.0  # off
    for bad in (0.5, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="memory_trim_interval_s"):
            ServerConfig(memory_trim_interval_s=bad)
