"""Every kind of bad input gets a clear status naming the field, and the server keeps answering."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc

RATE = 16_000


def _fmt(rate: int = RATE, channels: int = 1, encoding: int = asr_pb2.LINEAR16) -> asr_pb2.RecognitionConfig:
    return asr_pb2.RecognitionConfig(
        format=asr_pb2.AudioFormat(encoding=encoding, sample_rate_hz=rate, channels=channels)  # type: ignore[arg-type]
    )


def _tone(seconds: float, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (3000 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()


@pytest.fixture()
def stub(server: BackgroundServer) -> Iterator[asr_pb2_grpc.RecognizerStub]:
    with grpc.insecure_channel(server.target) as channel:
        yield asr_pb2_grpc.RecognizerStub(channel)


def _assert_still_healthy(server: BackgroundServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reply = asr_pb2_grpc.RecognizerStub(channel).Recognize(
            asr_pb2.RecognizeRequest(config=_fmt(), audio=_tone(0.5), clip_id="after"), timeout=30
        )
        assert reply.result.clip_id == "after" and reply.result.is_final


UNARY_CASES = [
    ("empty audio", asr_pb2.RecognizeRequest(config=_fmt(), audio=b""),
     grpc.StatusCode.INVALID_ARGUMENT, "audio: empty"),
    ("odd byte count", asr_pb2.RecognizeRequest(config=_fmt(), audio=b"\x01\x02\x03"),
     grpc.StatusCode.INVALID_ARGUMENT, "audio: 3 bytes is not a whole number"),
    ("odd bytes for stereo", asr_pb2.RecognizeRequest(config=_fmt(channels=2), audio=b"\x00" * 6),
     grpc.StatusCode.INVALID_ARGUMENT, "4 bytes per frame"),
    ("undeclared rate", asr_pb2.RecognizeRequest(config=_fmt(rate=0), audio=_tone(0.1)),
     grpc.StatusCode.INVALID_ARGUMENT, "config.format.sample_rate_hz: not set"),
    ("unsupported rate", asr_pb2.RecognizeRequest(config=_fmt(rate=12_345), audio=_tone(0.1)),
     grpc.StatusCode.INVALID_ARGUMENT, "config.format.sample_rate_hz: 12345 Hz is not supported"),
    ("unspecified encoding", asr_pb2.RecognizeRequest(config=_fmt(encoding=0), audio=_tone(0.1)),
     grpc.StatusCode.INVALID_ARGUMENT, "config.format.encoding: AUDIO_ENCODING_UNSPECIFIED"),
    ("no format", asr_pb2.RecognizeRequest(config=asr_pb2.RecognitionConfig(), audio=_tone(0.1)),
     grpc.StatusCode.INVALID_ARGUMENT, "config.format: not set"),
    ("no config", asr_pb2.RecognizeRequest(audio=_tone(0.1)),
     grpc.StatusCode.INVALID_ARGUMENT, "config: not set"),
    ("clip over the limit", asr_pb2.RecognizeRequest(config=_fmt(rate=8_000), audio=_tone(21.0, 8_000)),
     grpc.StatusCode.OUT_OF_RANGE, "at most 20 s"),
    ("unknown model", asr_pb2.RecognizeRequest(
        config=asr_pb2.RecognitionConfig(format=_fmt().format, model_id="large-v9"), audio=_tone(0.1)),
     grpc.StatusCode.NOT_FOUND, "config.model_id: 'large-v9' is not served"),
]


@pytest.mark.parametrize(("case", "request_", "code", "message"), UNARY_CASES, ids=[c[0] for c in UNARY_CASES])
def test_recognize_bad_input(
    server: BackgroundServer,
    stub: asr_pb2_grpc.RecognizerStub,
    case: str,
    request_: asr_pb2.RecognizeRequest,
    code: grpc.StatusCode,
    message: str,
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Recognize(request_, timeout=30)
    assert info.value.code() == code, info.value.details()
    assert message in info.value.details()
    _assert_still_healthy(server)


def _audio(data: bytes, eou: bool = False) -> asr_pb2.StreamingRecognizeRequest:
    return asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(clip_id="c", data=data, end_of_utterance=eou))


STREAM_CASES = [
    ("audio before config", [_audio(_tone(0.1), True)],
     grpc.StatusCode.INVALID_ARGUMENT, "config: the first message must carry config"),
    ("config twice",
     [asr_pb2.StreamingRecognizeRequest(config=_fmt()), asr_pb2.StreamingRecognizeRequest(config=_fmt())],
     grpc.StatusCode.INVALID_ARGUMENT, "config: sent twice"),
    ("unsupported rate", [asr_pb2.StreamingRecognizeRequest(config=_fmt(rate=7_000)), _audio(b"\x00\x00", True)],
     grpc.StatusCode.INVALID_ARGUMENT, "7000 Hz is not supported"),
    ("odd byte count", [asr_pb2.StreamingRecognizeRequest(config=_fmt()), _audio(b"\x00\x00\x00", True)],
     grpc.StatusCode.INVALID_ARGUMENT, "not a whole number"),
    ("clip over the limit", [asr_pb2.StreamingRecognizeRequest(config=_fmt(rate=8_000))]
     + [_audio(_tone(1.0, 8_000)) for _ in range(21)],
     grpc.StatusCode.OUT_OF_RANGE, "passed 20 s without end_of_utterance"),
]


@pytest.mark.parametrize(("case", "requests", "code", "message"), STREAM_CASES, ids=[c[0] for c in STREAM_CASES])
def test_streaming_bad_input(
    server: BackgroundServer,
    stub: asr_pb2_grpc.RecognizerStub,
    case: str,
    requests: list[asr_pb2.StreamingRecognizeRequest],
    code: grpc.StatusCode,
    message: str,
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamingRecognize(iter(requests), timeout=30))
    assert info.value.code() == code, info.value.details()
    assert message in info.value.details()
    _assert_still_healthy(server)


def test_streaming_empty_utterance_is_a_null_result(stub: asr_pb2_grpc.RecognizerStub) -> None:
    requests = [asr_pb2.StreamingRecognizeRequest(request_id="r1", config=_fmt()), _audio(b"", True)]
    replies = list(stub.StreamingRecognize(iter(requests), timeout=30))
    assert len(replies) == 1
    assert replies[0].request_id == "r1"
    assert replies[0].result.null_reason == asr_pb2.EMPTY_AUDIO
    assert replies[0].result.text == ""


def test_silence_is_too_quiet_without_inference(stub: asr_pb2_grpc.RecognizerStub) -> None:
    reply = stub.Recognize(asr_pb2.RecognizeRequest(config=_fmt(), audio=b"\x00\x00" * RATE), timeout=30)
    assert reply.result.null_reason == asr_pb2.TOO_QUIET
    assert reply.result.text == ""
    assert reply.result.latency.inference_ms == 0.0
    assert reply.result.audio.rms_dbfs == -120.0
