"""Exact metric values after known requests: counts, bucket placement, labels, gRPC codes, streaming time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from asr_service.client import AsrClient
from asr_service.errors import ClientError
from asr_service.recognizer import NullReason, VadStats
from asr_service.server import BackgroundServer
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.asr_service.monitoring.probes import get_json, http_get, scrape, scrape_after_abort, value
from tests.fakes import FakeEngine, tone_bytes

RATE = 16_000


def test_unary_requests_give_exact_counts_buckets_and_labels(
    monitored_server: Callable[..., BackgroundServer],
) -> None:
    server = monitored_server(FakeEngine(text="hello world", confidence=0.8, delay_s=0.21), budget_ms=100.0)
    port = server.server.monitor.http_port
    assert port is not None
    vad_stats = VadStats(speech_ratio=0.65, pre_padding_ms=300, post_padding_ms=0)
    with AsrClient(server.target, timeout_s=30) as client:
        spoken = client.recognize(tone_bytes(1.0, 0.1), vad_stats=vad_stats)  # -23 dBFS, 1 s, VAD stats sent
        silent = client.recognize(bytes(2 * RATE))  # digital silence: TOO_QUIET, no VAD stats
        with pytest.raises(ClientError, match="INVALID_ARGUMENT"):
            client.recognize(tone_bytes(0.5, 0.1), sample_rate_hz=12_345)
    assert spoken.text == "hello world" and silent.null_reason is NullReason.TOO_QUIET
    s = scrape_after_abort(port, "INVALID_ARGUMENT")
    assert value(s, "asr_transcripts_total") == 2
    assert value(s, "asr_null_transcripts_total", reason="too_quiet") == 1
    assert value(s, "asr_null_transcripts_total", reason="no_speech") == 0
    assert value(s, "asr_budget_exceeded_total") == 1  # the 0.21 s transcription, budget 0.1 s
    # Latency: the quiet clip skips the model (fast), the spoken one takes 0.21 s + a little.
    assert value(s, "asr_request_duration_seconds_bucket", le="0.1") == 1
    assert value(s, "asr_request_duration_seconds_bucket", le="0.2") == 1
    assert value(s, "asr_request_duration_seconds_bucket", le="0.3") == 2
    assert value(s, "asr_request_duration_seconds_count") == 2
    assert value(s, "asr_inference_duration_seconds_bucket", le="0.2") == 1
    assert value(s, "asr_inference_duration_seconds_bucket", le="0.25") == 2
    assert value(s, "asr_queue_wait_seconds_count") == 2
    # Input: both clips 1 s; RMS -23 dBFS and -120 dBFS (silence floor); peak -20 dBFS.
    assert value(s, "asr_input_audio_duration_seconds_bucket", le="0.5") == 0
    assert value(s, "asr_input_audio_duration_seconds_bucket", le="1.0") == 2
    assert value(s, "asr_input_audio_duration_seconds_sum") == pytest.approx(2.0)
    assert value(s, "asr_input_rms_dbfs_bucket", le="-90.0") == 1
    assert value(s, "asr_input_rms_dbfs_bucket", le="-25.0") == 1
    assert value(s, "asr_input_rms_dbfs_bucket", le="-20.0") == 2
    assert value(s, "asr_input_rms_dbfs_count") == 2  # no _sum: the buckets are negative (OpenMetrics)
    assert value(s, "asr_input_peak_dbfs_bucket", le="-25.0") == 1
    assert value(s, "asr_input_peak_dbfs_bucket", le="-20.0") == 2
    assert value(s, "asr_input_clipping_ratio_bucket", le="0.0") == 2
    # Client VAD stats: sent with one clip, missing on the other.
    assert value(s, "asr_input_speech_ratio_bucket", le="0.6") == 0
    assert value(s, "asr_input_speech_ratio_bucket", le="0.7") == 1
    assert value(s, "asr_input_speech_ratio_count") == 1
    assert value(s, "asr_input_vad_padding_seconds_bucket", side="pre", le="0.2") == 0
    assert value(s, "asr_input_vad_padding_seconds_bucket", side="pre", le="0.3") == 1
    assert value(s, "asr_input_vad_padding_seconds_bucket", side="post", le="0.0") == 1
    assert value(s, "asr_input_vad_stats_missing_total") == 1
    # Output: one text, confidence 0.8, 2 words in 1 s.
    assert value(s, "asr_transcript_confidence_bucket", le="0.7") == 0
    assert value(s, "asr_transcript_confidence_bucket", le="0.8") == 1
    assert value(s, "asr_transcript_words_per_second_bucket", le="1.5") == 0
    assert value(s, "asr_transcript_words_per_second_bucket", le="2.0") == 1
    # gRPC: by method and code, with the primary model's labels.
    grpc_labels = {"grpc_service": "asr.v1.Recognizer", "grpc_method": "Recognize", "grpc_type": "unary"}
    assert value(s, "asr_grpc_server_started_total", **grpc_labels) == 3
    assert value(s, "asr_grpc_server_handled_total", grpc_code="OK", **grpc_labels) == 2
    assert value(s, "asr_grpc_server_handled_total", grpc_code="INVALID_ARGUMENT", **grpc_labels) == 1
    assert value(s, "asr_grpc_server_msg_received_total", **grpc_labels) == 3
    assert value(s, "asr_grpc_server_msg_sent_total", **grpc_labels) == 2
    # Gauges read at scrape time.
    assert value(s, "asr_requests_in_flight") == 0
    assert value(s, "asr_queue_depth") == 0
    assert value(s, "asr_latency_budget_seconds") == pytest.approx(0.1)
    assert value(s, "asr_process_resident_memory_bytes") > 10_000_000
    assert value(s, "asr_model_info", model_id="fake", engine="test", config_hash="0") == 1
    # Every asr_ series carries the model version and the role.
    for name, labels in s:
        if name.startswith("asr_"):
            assert dict(labels).get("model_version") == "fake-1" and dict(labels).get("role") == "primary", name


def test_streaming_call_is_timed_to_the_end_of_its_stream(monitored_server: Callable[..., BackgroundServer]) -> None:
    server = monitored_server(FakeEngine(delay_s=0.21))
    port = server.server.monitor.http_port
    assert port is not None

    def requests() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
        yield asr_pb2.StreamingRecognizeRequest(config=asr_pb2.RecognitionConfig(
            format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=RATE)))
        for i in range(2):
            yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(
                clip_id=str(i), data=tone_bytes(0.5, 0.1), end_of_utterance=True))

    with grpc.insecure_channel(server.target) as channel:
        replies = list(asr_pb2_grpc.RecognizerStub(channel).StreamingRecognize(requests(), timeout=30))
    assert [r.result.text for r in replies] == ["hello world", "hello world"]
    s = scrape(port)
    labels = {"grpc_service": "asr.v1.Recognizer", "grpc_method": "StreamingRecognize", "grpc_type": "bidi_stream"}
    # Two transcriptions of 0.21 s each: the call lasts > 0.42 s, not the ~0 s of the handler's return.
    assert value(s, "asr_grpc_server_handling_seconds_bucket", le="0.4", **labels) == 0
    assert value(s, "asr_grpc_server_handling_seconds_count", **labels) == 1
    assert value(s, "asr_grpc_server_handling_seconds_sum", **labels) > 0.42
    assert value(s, "asr_grpc_server_handled_total", grpc_code="OK", **labels) == 1
    assert value(s, "asr_grpc_server_msg_received_total", **labels) == 3
    assert value(s, "asr_grpc_server_msg_sent_total", **labels) == 2
    assert value(s, "asr_transcripts_total") == 2


def test_vad_stats_absent_means_none_not_zeros(monitored_server: Callable[..., BackgroundServer]) -> None:
    # Per clip of a stream: stats sent, none sent, and stats that are all zeros (sent: not "missing").
    server = monitored_server()
    port = server.server.monitor.http_port
    assert port is not None
    sent = [asr_pb2.VadStats(speech_ratio=0.65, pre_padding_ms=300, post_padding_ms=300), None, asr_pb2.VadStats()]

    def requests() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
        yield asr_pb2.StreamingRecognizeRequest(config=asr_pb2.RecognitionConfig(
            format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=RATE)))
        for i, stats in enumerate(sent):
            yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(clip_id=str(i), data=tone_bytes(0.3, 0.1)))
            yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(
                clip_id=str(i), data=tone_bytes(0.2, 0.1), end_of_utterance=True, vad_stats=stats))

    with grpc.insecure_channel(server.target) as channel:
        replies = list(asr_pb2_grpc.RecognizerStub(channel).StreamingRecognize(requests(), timeout=30))
    assert len(replies) == 3
    s = scrape(port)
    assert value(s, "asr_input_vad_stats_missing_total") == 1
    assert value(s, "asr_input_speech_ratio_count") == 2
    assert value(s, "asr_input_speech_ratio_bucket", le="0.1") == 1  # the zeros, counted as sent
    assert value(s, "asr_input_vad_padding_seconds_bucket", side="pre", le="0.0") == 1


def test_streaming_abort_is_counted_with_its_code(monitored_server: Callable[..., BackgroundServer]) -> None:
    server = monitored_server()
    port = server.server.monitor.http_port
    assert port is not None
    audio_first = [asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(data=b"\0\0"))]
    with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as caught:
        list(asr_pb2_grpc.RecognizerStub(channel).StreamingRecognize(iter(audio_first), timeout=30))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    labels = {"grpc_service": "asr.v1.Recognizer", "grpc_method": "StreamingRecognize", "grpc_type": "bidi_stream"}
    s = scrape_after_abort(port, "INVALID_ARGUMENT")
    assert value(s, "asr_grpc_server_handled_total", grpc_code="INVALID_ARGUMENT", **labels) == 1
    assert value(s, "asr_grpc_server_msg_sent_total", **labels) == 0


def test_http_pages(monitored_server: Callable[..., BackgroundServer]) -> None:
    server = monitored_server()
    port = server.server.monitor.http_port
    assert port is not None
    status, content_type, body = http_get(port, "/")
    assert status == 200 and content_type.startswith("text/html") and b'static/dashboard.js' in body
    assert get_json(port, "/api/alarms")["active"] == []
    assert get_json(port, "/api/drift") == {"enabled": False, "features": []}
    series = get_json(port, "/api/timeseries?span_s=60&step_s=5")
    assert len(series["points"]) == 12 and series["budget_ms"] == 300.0 and series["model_version"] == "fake-1"
    assert http_get(port, "/nope")[0] == 404
    assert http_get(port, "/api/timeseries?span_s=x")[0] == 400
    # not a number of seconds: a 400 answer, never a dropped connection (they once were: nan, inf)
    for query in ("span_s=nan", "step_s=inf", "span_s=-5", "step_s=0", "span_s=1e400"):
        assert http_get(port, f"/api/timeseries?{query}")[0] == 400, query
    # a heavy query is cut to 600 points, so that polling it cannot starve inference
    assert len(get_json(port, "/api/timeseries?span_s=1800&step_s=1")["points"]) == 600


def test_nulls_on_clips_the_vad_called_speech_are_counted_apart(
    monitored_server: Callable[..., BackgroundServer],
) -> None:
    """The VAD and the model disagreeing: no text for a clip with a high speech ratio."""
    server = monitored_server(FakeEngine(text=""))  # the model hears nothing: NO_SPEECH
    port = server.server.monitor.http_port
    assert port is not None
    with AsrClient(server.target, timeout_s=30) as client:
        client.recognize(tone_bytes(1.0, 0.1), vad_stats=VadStats(speech_ratio=0.8))  # speech, says the VAD
        client.recognize(tone_bytes(1.0, 0.1), vad_stats=VadStats(speech_ratio=0.2))  # mostly padding
        client.recognize(tone_bytes(1.0, 0.1))  # no VAD stats: no opinion
        client.recognize(bytes(2 * RATE), vad_stats=VadStats(speech_ratio=0.9))  # silence: TOO_QUIET
    s = scrape(port)
    assert value(s, "asr_null_transcripts_total", reason="no_speech") == 3
    assert value(s, "asr_null_on_speech_total", reason="no_speech") == 1
    assert value(s, "asr_null_on_speech_total", reason="too_quiet") == 1
    window = server.server.monitor.recent.summary(60.0)
    assert window.null_on_speech_rate == pytest.approx(2 / 4)
    assert window.to_json()["null_on_speech_rate"] == pytest.approx(0.5)
