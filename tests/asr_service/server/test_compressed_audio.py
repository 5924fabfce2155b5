"""FLAC and Ogg/Opus through a real server: unary and streamed clips, and what is refused, with which code."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from asr_service import audio
from asr_service.cli import main
from asr_service.client import AsrClient
from asr_service.codecs import encode
from asr_service.config import ServerConfig
from asr_service.errors import ClientError
from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import FakeEngine, tone_bytes, tone_clips
from tests.paths import ESPEAK_SAMPLE

PCM = tone_bytes(1.0, 0.3)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    config = ServerConfig(port=0, shutdown_notice_s=0.0, max_clip_s=3.0)
    running = BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="hello")).start()
    yield running
    running.stop(1.0)


def _recognize(target: str, audio: bytes, encoding: int, rate: int = 16_000
               ) -> grpc.RpcError | asr_pb2.RecognizeResponse:
    fmt = asr_pb2.AudioFormat(encoding=encoding, sample_rate_hz=rate)  # type: ignore[arg-type]
    request = asr_pb2.RecognizeRequest(config=asr_pb2.RecognitionConfig(format=fmt), audio=audio)
    with grpc.insecure_channel(target) as channel:
        try:
            return asr_pb2_grpc.RecognizerStub(channel).Recognize(request, timeout=10)
        except grpc.RpcError as exc:
            return exc


@pytest.mark.parametrize("encoding", ["flac", "ogg_opus"])
def test_the_client_sends_compressed_clips_unary_and_streamed(server: BackgroundServer, encoding: str) -> None:
    with AsrClient(server.target, encoding=encoding) as client:
        result = client.recognize(PCM, clip_id="a")
        assert (result.text, result.clip_id) == ("hello", "a")
        assert result.audio.duration_s == pytest.approx(1.0) and result.audio.sample_rate_hz == 16_000
        clips = tone_clips(3, seconds=1.2)
        streamed = list(client.stream(clips, chunk_ms=100))  # each clip one file, cut into several chunks
    assert [r.clip_id for r in streamed] == [str(c.index) for c in clips]
    assert all(r.text == "hello" and r.audio.duration_s == pytest.approx(1.2) for r in streamed)


@pytest.mark.parametrize(
    ("audio", "encoding", "rate", "code", "message"),
    [
        (encode(PCM, sample_rate_hz=16_000, encoding="flac")[:2000], asr_pb2.FLAC, 16_000,
         grpc.StatusCode.INVALID_ARGUMENT, "do not decode as FLAC"),
        (np.random.default_rng(1).bytes(3000), asr_pb2.OGG_OPUS, 16_000, grpc.StatusCode.INVALID_ARGUMENT,
         "audio: 3000 bytes that are not a OGG_OPUS file (it starts with b'OggS'"),
        (encode(PCM, sample_rate_hz=16_000, encoding="flac"), asr_pb2.FLAC, 8_000, grpc.StatusCode.INVALID_ARGUMENT,
         "config.format.sample_rate_hz: 8000 Hz declared, but the FLAC file is 16000 Hz"),
        (encode(tone_bytes(4.0, 0.3), sample_rate_hz=16_000, encoding="ogg_opus"), asr_pb2.OGG_OPUS, 16_000,
         grpc.StatusCode.OUT_OF_RANGE, "the server accepts at most 3 s"),
        (PCM, 7, 16_000, grpc.StatusCode.INVALID_ARGUMENT,
         "config.format.encoding: 7 is not supported (accepted: LINEAR16, FLAC, OGG_OPUS)"),
    ],
)
def test_bad_compressed_audio_answers_a_clear_status(
    server: BackgroundServer, audio: bytes, encoding: int, rate: int, code: grpc.StatusCode, message: str
) -> None:
    answer = _recognize(server.target, audio, encoding, rate)
    assert isinstance(answer, grpc.RpcError)
    assert answer.code() == code and message in (answer.details() or ""), answer


def test_a_streamed_clip_that_does_not_decode_ends_the_stream_with_invalid_argument(server: BackgroundServer) -> None:
    with AsrClient(server.target) as client:
        client.encoding = "flac"  # declared FLAC ...
        client._encode = lambda pcm, rate, channels: pcm  # type: ignore[method-assign]  # ... sent as raw PCM
        with pytest.raises(ClientError, match=r"INVALID_ARGUMENT: audio: .* not a FLAC file") as caught:
            list(client.stream(tone_clips(1)))
    assert caught.value.code == "INVALID_ARGUMENT"


def test_the_client_refuses_an_unknown_encoding_or_bitrate() -> None:
    with pytest.raises(ValueError, match="encoding: 'mp3' is not one of linear16, flac, ogg_opus"):
        AsrClient("127.0.0.1:1", encoding="mp3")
    with pytest.raises(ValueError, match="opus_bitrate_bps: 500 is out of range"):
        AsrClient("127.0.0.1:1", encoding="ogg_opus", opus_bitrate_bps=500)


@pytest.mark.parametrize(("flag", "encoding"), [("flac", "flac"), ("opus", "ogg_opus")])
@pytest.mark.parametrize("stream", [False, True])
def test_asr_transcribe_sends_the_encoding_it_is_told(
    server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    flag: str, encoding: str, stream: bool,
) -> None:
    decoded: list[str] = []
    real = audio.decode_compressed

    def spy(data: bytes, **kwargs: object) -> object:
        decoded.append(str(kwargs["encoding"]))
        return real(data, **kwargs)  # type: ignore[arg-type]

    def transcribe(*flags: str) -> list[tuple[str, str | None]]:
        argv = ["transcribe", "--server", server.target, "--json", *flags, "--max-clip-s", "2.5", str(ESPEAK_SAMPLE)]
        assert main([*argv, "--stream"] if stream else argv) == 0
        return [(r["text"], r["null_reason"]) for r in map(json.loads, capsys.readouterr().out.splitlines())]

    plain = transcribe()
    monkeypatch.setattr(audio, "decode_compressed", spy)
    assert transcribe("--encoding", flag, "--opus-kbps", "16") == plain  # the same answers, clip for clip
    assert len(plain) == 8 and decoded == [encoding] * 8  # every clip went compressed


def test_asr_transcribe_refuses_an_opus_bitrate_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "--server", "127.0.0.1:1", "--encoding", "opus", "--opus-kbps", "2",
                 str(ESPEAK_SAMPLE)]) == 2
    assert "opus_bitrate_bps: 2000 is out of range (allowed: 6000..256000)" in capsys.readouterr().err
