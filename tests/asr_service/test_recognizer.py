"""The recognizer's null reasons: why a result has no text, decided from the clip and the engine's answer."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from asr_service.audio import AudioFormat, ClipLimits, decode_clip
from asr_service.config import ServerConfig
from asr_service.engines import EngineOptions
from asr_service.errors import OverloadedError
from asr_service.recognizer import NullReason, RecognitionResult, Recognizer, VadStats
from tests.fakes import FakeEngine, tone_bytes

LIMITS = ClipLimits(accepted_rates_hz=(16_000,), max_channels=1, max_clip_s=30.0)


def tone(seconds: float, level_dbfs: float) -> bytes:
    """A tone whose RMS is `level_dbfs`."""
    return tone_bytes(seconds, float(np.sqrt(2) * 10 ** (level_dbfs / 20)))


def recognize(engine: FakeEngine, audio: bytes, *, vad: VadStats | None = None) -> RecognitionResult:
    recognizer = Recognizer(engine, ServerConfig())  # volume floor -60 dBFS
    clip = decode_clip(audio, AudioFormat(sample_rate_hz=16_000), LIMITS, allow_empty=True)
    try:
        return asyncio.run(recognizer.recognize(clip, clip_id="7", received_at=time.perf_counter(), vad=vad))
    finally:
        recognizer.close()


def test_speech_has_text_and_no_reason() -> None:
    engine = FakeEngine(text="turn left at the bakery", confidence=0.82)
    result = recognize(engine, tone(1.5, -22.0))
    assert (result.null_reason, result.text, result.confidence) == (NullReason.NONE, "turn left at the bakery", 0.82)
    assert result.clip_id == "7" and engine.calls == 1
    assert result.latency.server_total_ms >= result.latency.inference_ms >= 0


def test_degenerate_output_is_suppressed_as_a_hallucination() -> None:
    engine = FakeEngine(text="thank you thank you thank you thank you thank you", degenerate=True)
    result = recognize(engine, tone(2.0, -30.0))
    assert result.null_reason is NullReason.HALLUCINATION_SUPPRESSED
    assert result.text == "" and result.confidence == 0.0  # the repeated words never reach the caller


def test_no_text_from_the_engine_is_no_speech() -> None:
    # The engine applies Whisper's silence rule and answers with no text: breathing, a door, a cough.
    result = recognize(FakeEngine(text=""), tone(1.0, -45.0))
    assert result.null_reason is NullReason.NO_SPEECH and result.text == ""


def test_audio_under_the_volume_floor_is_too_quiet_and_never_reaches_the_engine() -> None:
    engine = FakeEngine(text="should not be asked")
    result = recognize(engine, tone(1.0, -66.0))
    assert result.null_reason is NullReason.TOO_QUIET and result.text == ""
    assert engine.calls == 0 and result.latency.inference_ms == 0.0
    assert result.audio.rms_dbfs == pytest.approx(-66.0, abs=0.5)  # int16 rounding at this level


def test_empty_audio_is_empty_and_never_reaches_the_engine() -> None:
    engine = FakeEngine()
    result = recognize(engine, b"")
    assert result.null_reason is NullReason.EMPTY_AUDIO and engine.calls == 0 and result.audio.duration_s == 0.0


def test_vad_stats_pass_through_and_their_absence_stays_none() -> None:
    stats = VadStats(speech_ratio=0.64, pre_padding_ms=300, post_padding_ms=240, gain_db=3.5)
    assert recognize(FakeEngine(), tone(1.0, -25.0), vad=stats).vad == stats
    assert recognize(FakeEngine(), tone(1.0, -25.0)).vad is None


def test_admission_follows_the_budget() -> None:
    # One worker, 100 ms a clip, a 350 ms budget: a clip behind one running and one waiting would be
    # answered in about 300 ms (admitted); behind one running and two waiting, 400 ms (refused now).
    def run(admission: str) -> list[str]:
        config = ServerConfig(engine=EngineOptions(num_workers=1, cpu_threads=1), admission=admission,
                              budget_ms=350.0, admission_headroom=1.0)
        recognizer = Recognizer(FakeEngine(delay_s=0.1), config)
        clip = decode_clip(tone(1.0, -20.0), AudioFormat(sample_rate_hz=16_000), LIMITS)

        async def go() -> list[str]:
            await recognizer.recognize(clip, clip_id="warm", received_at=time.perf_counter())  # learns 100 ms
            calls = [recognizer.recognize(clip, clip_id=str(i), received_at=time.perf_counter()) for i in range(4)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            hints.extend(o.retry_after_ms for o in outcomes if isinstance(o, OverloadedError))
            return ["ok" if isinstance(o, RecognitionResult) else type(o).__name__ for o in outcomes]

        try:
            return asyncio.run(go())
        finally:
            recognizer.close()

    hints: list[int | None] = []
    assert run("budget") == ["ok", "ok", "ok", "OverloadedError"]
    # its retry hint: when one clip has finished, the 400 ms it would take is within the 350 ms budget
    assert len(hints) == 1 and hints[0] is not None and 100 <= hints[0] <= 200, hints
    assert run("count") == ["ok"] * 4  # the count limit (8) alone lets every one wait


def test_admission_counts_how_far_the_busy_workers_are() -> None:
    # Two workers, 300 ms a clip, a 500 ms budget, both busy. A clip that arrives as they start would wait
    # about 250 ms and be answered in about 550 (refused now); one that arrives when they are nearly done,
    # in about 350 (admitted). A worker free every mean/W ms would have said 450 for both.
    config = ServerConfig(engine=EngineOptions(num_workers=2, cpu_threads=1), budget_ms=500.0,
                          admission_headroom=1.0)
    recognizer = Recognizer(FakeEngine(delay_s=0.3), config)
    clip = decode_clip(tone(1.0, -20.0), AudioFormat(sample_rate_hz=16_000), LIMITS)

    async def go() -> tuple[object, object, list[RecognitionResult]]:
        await recognizer.recognize(clip, clip_id="warm", received_at=time.perf_counter())  # learns 300 ms
        busy = [asyncio.ensure_future(recognizer.recognize(clip, clip_id=str(i), received_at=time.perf_counter()))
                for i in range(2)]
        await asyncio.sleep(0.05)  # both on a worker now
        early = await asyncio.gather(recognizer.recognize(clip, clip_id="early", received_at=time.perf_counter()),
                                     return_exceptions=True)
        await asyncio.sleep(0.2)  # 250 ms into their 300
        late = asyncio.ensure_future(recognizer.recognize(clip, clip_id="late", received_at=time.perf_counter()))
        return early[0], await late, list(await asyncio.gather(*busy))

    try:
        early, late, busy = asyncio.run(go())
    finally:
        recognizer.close()
    assert isinstance(early, OverloadedError), early
    estimate = float(str(early).split("answered in about ")[1].split(" ms")[0])
    assert 510 <= estimate <= 600, early  # 300 ms less the ~50 they had run, then its own 300
    assert isinstance(late, RecognitionResult) and late.latency.server_total_ms < 500.0
    assert all(isinstance(r, RecognitionResult) for r in busy)
