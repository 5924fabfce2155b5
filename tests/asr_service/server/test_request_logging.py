"""Consented request logging through a real server: nothing without consent, text only with "results",
audio with "audio"; feedback counted per model and logged as a candidate reference; bad consent fields
refused; the feedback scope guards ReportFeedback; queued rows reach the disk on a graceful stop."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import generate_latest

from asr_service.cli import main
from asr_service.client import AsrClient
from asr_service.config import RequestLogOptions, ServerConfig
from asr_service.errors import ClientError
from asr_service.request_log import read_rows
from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import FakeEngine, tone_bytes, tone_clips

AUDIO = tone_bytes(1.0, 0.3)


def start(log_dir: Path, **server: object) -> BackgroundServer:
    # sample_share 1: every consented result is kept (the sampling itself is tested in tests/asr_service/request_log)
    config = ServerConfig(port=0, http_port=0, shutdown_notice_s=0.0,
                          request_log=RequestLogOptions(dir=str(log_dir), sample_share=1.0), **server)  # type: ignore[arg-type]
    return BackgroundServer(config, engine_factory=lambda _: FakeEngine(text="call me at five", confidence=0.9)).start()


@pytest.fixture()
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "log"


@pytest.fixture()
def server(log_dir: Path) -> Iterator[BackgroundServer]:
    running = start(log_dir)
    yield running
    running.stop(1.0)


def test_only_consented_requests_are_kept_and_audio_only_with_audio_consent(log_dir: Path) -> None:
    server = start(log_dir)
    try:
        with AsrClient(server.target) as anonymous:  # no consent: the default
            anonymous.recognize(AUDIO, clip_id="a")
        with AsrClient(server.target, logging_consent="none", subject_id="u-0") as declined:
            declined.recognize(AUDIO, clip_id="b")
        with AsrClient(server.target, logging_consent="results", subject_id="u-1",
                       client_tags={"device": "pixel-7", "locale": "en-GB"}) as texts:
            kept_text = texts.recognize(AUDIO, clip_id="c")
        with AsrClient(server.target, logging_consent="audio", subject_id="u-2", client_tags={"app_version": "4.2.0"}) \
                as voices:
            kept_voice = voices.recognize(AUDIO, clip_id="d")
            streamed = list(voices.stream(tone_clips(3, 0.6)))
    finally:
        server.stop(2.0)  # drains the writer
    rows = list(read_rows(log_dir))
    assert sorted(r["subject_id"] for r in rows) == ["u-1", "u-2", "u-2", "u-2", "u-2"]
    by_id = {r["utt_id"]: r for r in rows}
    text_row = by_id[kept_text.result_id]
    assert text_row["consent"] == "results" and not text_row.get("audio")
    assert text_row["text"] == "call me at five" and text_row["model_version"] == "fake-1"
    assert text_row["client_tags"] == {"device": "pixel-7", "locale": "en-GB"}
    assert text_row["client_device"] == "pixel-7"
    voice_row = by_id[kept_voice.result_id]
    wav = Path(voice_row["audio_path"])
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16_000, 1, 2)
        assert abs(w.getnframes() - 16_000) < 50
    assert [r.result_id for r in streamed] == [f"{streamed[0].result_id.rpartition('/')[0]}/{i}" for i in range(3)]
    assert all(by_id[r.result_id]["audio"] for r in streamed)
    wavs = list(log_dir.rglob("*.wav"))
    assert len(wavs) == 4  # the unary "audio" clip and three streamed clips; none for "results" or no consent


def test_feedback_is_counted_per_model_and_an_edit_is_logged(server: BackgroundServer, log_dir: Path) -> None:
    with AsrClient(server.target, logging_consent="audio", subject_id="u-9") as client:
        result = client.recognize(AUDIO)
        assert client.report_feedback(result, "edited", edited_text="Call me at 5.") is True
        assert client.report_feedback(result, "retried") is True
    with AsrClient(server.target) as anonymous:  # no consent: counted, never kept
        other = anonymous.recognize(AUDIO)
        assert anonymous.report_feedback(other, "switched_to_typing") is False
        with pytest.raises(ClientError, match="edited_text"):
            anonymous.report_feedback(other, "edited")
    metrics = generate_latest(server.server.monitor.registry).decode()
    for action in ("edited", "retried", "switched_to_typing"):
        assert f'asr_feedback_total{{action="{action}",model_version="fake-1",role="primary"}} 1.0' in metrics
    server.stop(2.0)
    feedback = list(read_rows(log_dir, kinds=("feedback",)))
    assert [(f["utt_id"], f["action"], f["edited_text"]) for f in feedback] == [
        (result.result_id, "edited", "Call me at 5."), (result.result_id, "retried", "")]


def test_a_client_cannot_mint_model_labels_or_send_bad_consent_fields(server: BackgroundServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        fmt = asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=16_000)
        bad_configs = {
            "client_tags": asr_pb2.RecognitionConfig(format=fmt, client_tags={"Device Name": "x"}),
            "client_tags[device]": asr_pb2.RecognitionConfig(format=fmt, client_tags={"device": "x\ny"}),
            "subject_id": asr_pb2.RecognitionConfig(format=fmt, subject_id="u" * 500),
            "logging_consent": asr_pb2.RecognitionConfig(format=fmt, logging_consent=7),  # type: ignore[arg-type]
        }
        for field, config in bad_configs.items():
            with pytest.raises(grpc.RpcError) as err:
                stub.Recognize(asr_pb2.RecognizeRequest(config=config, audio=AUDIO), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in str(err.value.details())
        reply = stub.Recognize(asr_pb2.RecognizeRequest(config=asr_pb2.RecognitionConfig(format=fmt), audio=AUDIO))
        feedback = asr_pb2.ReportFeedbackRequest(
            result_id=reply.result.result_id, action=asr_pb2.FEEDBACK_ACTION_ACCEPTED,
            model=asr_pb2.ModelRef(model_version="made-up-by-a-client"))
        stub.ReportFeedback(feedback, timeout=10)
        for bad in (asr_pb2.ReportFeedbackRequest(result_id="no-index", action=asr_pb2.FEEDBACK_ACTION_ACCEPTED),
                    asr_pb2.ReportFeedbackRequest(result_id=reply.result.result_id)):
            with pytest.raises(grpc.RpcError) as err:
                stub.ReportFeedback(bad, timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    metrics = generate_latest(server.server.monitor.registry).decode()
    assert "made-up-by-a-client" not in metrics
    assert 'asr_feedback_total{action="accepted",model_version="unknown",role="unknown"} 1.0' in metrics


def test_report_feedback_needs_the_feedback_scope(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = tmp_path / "tokens.toml"
    made = {}
    for client, scopes in (("speech-only", "recognize"), ("app", "recognize,feedback")):
        assert main(["auth", "add-token", "--file", str(tokens), "--client", client, "--scopes", scopes]) == 0
        made[client] = capsys.readouterr().out.strip()
    server = start(tmp_path / "log", auth_tokens_file=str(tokens))
    try:
        with AsrClient(server.target, token=made["speech-only"]) as speech_only:
            result = speech_only.recognize(AUDIO)
            with pytest.raises(ClientError, match="PERMISSION_DENIED"):
                speech_only.report_feedback(result, "accepted")
        with AsrClient(server.target, token=made["app"]) as app:
            assert app.report_feedback(app.recognize(AUDIO), "accepted") is False  # counted; no consent to keep
    finally:
        server.stop(1.0)


def test_a_graceful_stop_writes_every_queued_row(log_dir: Path) -> None:
    server = start(log_dir)
    with AsrClient(server.target, logging_consent="audio", subject_id="u-5") as client:
        ids = [r.result_id for r in client.stream(tone_clips(40, 0.6))]
    server.stop(5.0)
    rows = list(read_rows(log_dir))
    assert sorted(r["utt_id"] for r in rows) == sorted(ids)
    assert all(Path(r["audio_path"]).exists() for r in rows)
    assert all(json.loads(line) for f in log_dir.rglob("manifest.jsonl") for line in f.read_text().splitlines())
