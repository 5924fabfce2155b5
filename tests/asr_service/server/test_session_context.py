"""A streaming session carries its text from clip to clip (when `session_context` is on); unary calls never do."""

from __future__ import annotations

from asr_service.client import AsrClient, LocalTranscriber
from asr_service.config import ServerConfig
from asr_service.recognizer import NullReason, SessionContext
from tests.fakes import FakeEngine, recognition_result, tone_clips


def test_a_session_conditions_each_clip_on_the_text_before_it(serve) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine(text="ask not", confidence=0.9)
    server = serve(engine, session_context=True)
    with AsrClient(server.target) as client:
        texts = [r.text for r in client.stream(tone_clips(3), lockstep=True)]
        assert texts == ["ask not"] * 3
        assert engine.contexts == ["", "ask not", "ask not ask not"]
        client.recognize_clip(tone_clips(1)[0])  # a unary call is on its own
        assert engine.contexts[-1] == ""
        list(client.stream(tone_clips(1)))  # a new session starts empty
        assert engine.contexts[-1] == ""


def test_the_context_is_off_by_default_and_after_an_unsure_result(serve) -> None:  # type: ignore[no-untyped-def]
    engine = FakeEngine(text="ask not", confidence=0.9)
    with AsrClient(serve(engine).target) as client:
        list(client.stream(tone_clips(3)))
    assert engine.contexts == ["", "", ""]
    unsure = FakeEngine(text="as knot", confidence=0.3)  # below session_context_min_confidence (0.5)
    with AsrClient(serve(unsure, session_context=True).target) as client:
        list(client.stream(tone_clips(3)))
    assert unsure.contexts == ["", "", ""]


def test_the_in_process_session_does_as_the_server_does() -> None:
    engine = FakeEngine(text="ask not", confidence=0.9)
    local = LocalTranscriber(ServerConfig(session_context=True), engine_factory=lambda options: engine)
    try:
        assert [r.text for r in local.stream(tone_clips(2))] == ["ask not", "ask not"]
        local.recognize_clip(tone_clips(1)[0])
    finally:
        local.close()
    assert engine.contexts == ["", "ask not", ""]


def test_session_context_keeps_trusted_text_and_clears_after_a_doubtful_result() -> None:
    context = SessionContext(enabled=True, min_confidence=0.5)
    context.update(recognition_result())
    assert context.text == "go forward"
    context.update(recognition_result(null=NullReason.NO_SPEECH))  # a pause: what was said still stands
    context.update(recognition_result(null=NullReason.TOO_QUIET))
    assert context.text == "go forward"
    context.update(recognition_result())
    assert context.text == "go forward go forward"
    context.update(recognition_result(used_fallback=True))  # a decode that looked degenerate
    assert context.text == ""
    context.update(recognition_result())
    context.update(recognition_result(null=NullReason.HALLUCINATION_SUPPRESSED))
    assert context.text == ""
    for _ in range(500):
        context.update(recognition_result())
    assert len(context.text) <= SessionContext.MAX_CHARS and context.text.endswith("go forward")
    off = SessionContext(enabled=False, min_confidence=0.5)
    off.update(recognition_result())
    assert off.text == ""
