"""One typed client result: the same values whether it came over gRPC or from an in-process recognizer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import vad
from asr_service.audio import AudioStats
from asr_service.cli._transcribe import clip_record
from asr_service.client import ClipResult
from asr_service.client._remote import _result
from asr_service.engines import EngineInfo
from asr_service.errors import ClientError
from asr_service.recognizer import Latency, NullReason, RecognitionResult, VadStats
from asr_service.server._convert import result_message

VAD = VadStats(speech_ratio=0.8125, pre_padding_ms=300, post_padding_ms=240, gain_db=1.5, split=False, start_s=2.25)


def recognition_result(**changes: object) -> RecognitionResult:
    result = RecognitionResult(
        clip_id="7", text="go forward ten meters", confidence=0.8765432, null_reason=NullReason.NONE,
        no_speech_prob=0.01, model=EngineInfo(model_id="m", model_version="m-1", engine="e", config_hash="abc"),
        role="primary",
        latency=Latency(queue_wait_ms=0.123456, inference_ms=61.98765, server_total_ms=63.456789, budget_ms=300.0),
        audio=AudioStats(duration_s=2.7891234, rms_dbfs=-24.123456, peak_dbfs=-6.0, clipped_ratio=0.0000123,
                         sample_rate_hz=16_000, pitch_hz=None),
        vad=VAD, used_fallback=True,
    )
    return dataclasses.replace(result, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("reason", list(NullReason))
def test_the_wire_gives_the_in_process_result(reason: NullReason) -> None:
    result = recognition_result(null_reason=reason, text="" if reason is not NullReason.NONE else "hello")
    local = ClipResult.from_result(result, round_trip_ms=70.5)
    remote = _result(result_message(result), vad_stats=VAD, round_trip_ms=70.5)
    assert remote.confidence == pytest.approx(local.confidence, rel=1e-6)  # a float32 on the wire
    assert dataclasses.replace(remote, confidence=local.confidence) == local
    assert remote.null_reason is reason and remote.budget_exceeded is False


def test_the_result_keeps_every_digit_and_the_cli_rounds() -> None:
    stats = vad.ClipStats(speech_ratio=0.8125, pre_padding_ms=300.0, post_padding_ms=240.0, gain_db=1.5, split=False,
                          rms_dbfs=-24.0, peak_dbfs=-6.0)
    clip = vad.Clip(pcm=np.zeros(16_000, dtype=np.int16), index=7, start_s=2.25, end_s=3.25, speech_start_s=2.55,
                    speech_end_s=3.01, stats=stats)
    result = ClipResult.from_result(recognition_result(), round_trip_ms=70.54321)
    assert result.latency.server_total_ms == 63.456789 and result.round_trip_ms == 70.54321
    record = clip_record("a.wav", clip, result)
    assert record["confidence"] == 0.8765
    assert record["latency_ms"] == {"queue_wait": 0.12, "inference": 61.99, "total": 63.46, "budget": 300.0,
                                    "round_trip": 70.54}
    assert record["audio"] == {"duration_s": 2.789, "rms_dbfs": -24.12, "peak_dbfs": -6.0, "clipped_ratio": 1e-05}
    assert record["null_reason"] is None and record["budget_exceeded"] is False


def test_over_budget_follows_the_latency() -> None:
    late = recognition_result(latency=Latency(queue_wait_ms=0.0, inference_ms=350.0, server_total_ms=351.0,
                                              budget_ms=300.0))
    assert ClipResult.from_result(late, round_trip_ms=360.0).budget_exceeded
    assert _result(result_message(late), vad_stats=None, round_trip_ms=360.0).budget_exceeded


def test_a_null_reason_this_client_does_not_know_is_a_clear_error() -> None:
    message = result_message(recognition_result())
    message.null_reason = 9  # type: ignore[assignment]  # a newer server's reason
    with pytest.raises(ClientError, match=r"null_reason: 9 is not a reason this client knows"):
        _result(message, vad_stats=None, round_trip_ms=1.0)


def test_null_reason_json_round_trip() -> None:
    for reason in NullReason:
        assert NullReason.from_json(reason.to_json()) is reason
    assert NullReason.NONE.to_json() is None and NullReason.TOO_QUIET.to_json() == "TOO_QUIET"
    with pytest.raises(ValueError, match="'TOO_LOUD' is not one of"):
        NullReason.from_json("TOO_LOUD")
