"""Revisions in-process: `LocalTranscriber.stream(on_revision=...)` gives the same revisions as a server's
streaming session, and, unlike a server, never drops a second pass for want of CPU."""

from __future__ import annotations

import json
import time

import pytest

from asr_service.cli import main
from asr_service.client import LocalTranscriber, Revision, paced, revised
from asr_service.config import ServerConfig
from asr_service.recognizer import Recognizer
from tests.fakes import JointEngine, PausingSpeaker, tone_clips
from tests.paths import ESPEAK_SAMPLE


def _local(engine: JointEngine, window_s: float = 2.5) -> LocalTranscriber:
    return LocalTranscriber(ServerConfig(revision_window_s=window_s), engine_factory=lambda options: engine)


def test_an_in_process_session_gets_a_second_pass_over_each_block_of_its_clips() -> None:
    engine = JointEngine()
    transcriber = _local(engine)  # two clips of 1 s a block
    revisions: list[Revision] = []
    try:
        results = list(transcriber.stream(tone_clips(5), on_revision=revisions.append))
    finally:
        transcriber.close()
    assert [r.text for r in results] == ["ask ask"] * 5  # each clip's own result first, unchanged
    assert [r.result_id for r in results] == ["0", "1", "2", "3", "4"]
    assert [rev.result_ids for rev in revisions] == [("0", "1"), ("2", "3")]  # the 5th clip is alone
    assert all(rev.text == "ASK ASK ASK ASK" and rev.inference_ms >= 0 for rev in revisions)
    assert revised([(r.result_id, r.text) for r in results], revisions) == [
        "ASK ASK ASK ASK", "", "ASK ASK ASK ASK", "", "ask ask"]
    assert sorted(engine.lengths) == [1.0] * 5 + [2.0] * 2  # each clip, then each block of two joined


def test_no_second_pass_in_process_unless_asked_and_a_worse_one_is_not_given() -> None:
    engine = JointEngine()
    transcriber = _local(engine)
    try:
        assert len(list(transcriber.stream(tone_clips(4)))) == 4
    finally:
        transcriber.close()
    assert engine.lengths == [1.0] * 4
    worse = JointEngine(worse=True)
    transcriber = _local(worse)
    revisions: list[Revision] = []
    try:
        results = list(transcriber.stream(tone_clips(4), on_revision=revisions.append))
    finally:
        transcriber.close()
    assert [r.text for r in results] == ["ask ask"] * 4 and revisions == []
    assert sorted(worse.lengths) == [1.0] * 4 + [2.0] * 2  # the second passes ran, and were dropped


def test_in_process_second_passes_wait_for_the_background_thread_instead_of_being_dropped() -> None:
    # clips come faster than the second passes run: a server would decline those past MAX_REVISIONS_WAITING
    blocks = Recognizer.MAX_REVISIONS_WAITING + 3
    engine = JointEngine(second_pass_s=0.2)
    transcriber = _local(engine)
    revisions: list[Revision] = []
    try:
        results = list(transcriber.stream(tone_clips(2 * blocks), on_revision=revisions.append))
    finally:
        transcriber.close()
    assert len(results) == 2 * blocks
    assert [rev.result_ids for rev in revisions] == [(str(2 * k), str(2 * k + 1)) for k in range(blocks)]


def test_a_caller_that_stops_reading_cancels_the_second_passes_not_started() -> None:
    engine = JointEngine(second_pass_s=0.3)
    transcriber = _local(engine)
    revisions: list[Revision] = []
    try:
        session = transcriber.stream(tone_clips(12), on_revision=revisions.append)
        for _, _result in zip(range(9), session, strict=False):  # blocks 1-4 closed, passes queued
            pass
        session.close()
        assert transcriber.recognize_clip(tone_clips(1)[0]).text == "ask ask"  # still usable
        time.sleep(4 * 0.3 + 0.5)  # long enough for all 4 passes, had they been left to run
        assert engine.lengths.count(2.0) <= 2  # of the 4 passes queued, those not yet running never ran
    finally:
        transcriber.close()
    assert all(r.result_ids in {("0", "1"), ("2", "3")} for r in revisions)


def test_a_block_of_one_clip_gets_no_second_pass_in_process() -> None:
    engine = JointEngine()
    transcriber = _local(engine, window_s=30.0)
    revisions: list[Revision] = []
    try:
        results = list(transcriber.stream(tone_clips(1), on_revision=revisions.append))
    finally:
        transcriber.close()
    assert [r.text for r in results] == ["ask ask"] and revisions == [] and engine.lengths == [1.0]


def test_asr_transcribe_in_process_prints_each_revision_after_the_clips_it_covers(
    second_pass_engine: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(ESPEAK_SAMPLE), "--json", "--revisions"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    clips, revision = records[:-1], records[-1]["revision"]  # four sentences, 15 s of clips: one block
    assert [c["text"] for c in clips] == ["one clip"] * 4 and [c["clip_id"] for c in clips] == ["0", "1", "2", "3"]
    assert revision["text"] == "all of the clips heard together as one"
    assert revision["result_ids"] == revision["clip_ids"] == ["0", "1", "2", "3"]
    assert (revision["start_s"], revision["end_s"]) == (clips[0]["start_s"], clips[-1]["end_s"])
    assert main(["transcribe", str(ESPEAK_SAMPLE), "--json", "--stream"]) == 0  # a session, not asked: none
    assert ["revision" in json.loads(line) for line in capsys.readouterr().out.splitlines()] == [False] * 4


def test_paced_gives_each_clip_no_sooner_than_its_end_at_that_speed() -> None:
    clips = tone_clips(3)  # ending at 1, 2 and 3 s
    start = time.perf_counter()
    when = [time.perf_counter() - start for _ in paced(clips, 10.0)]
    assert [w >= clip.end_s / 10.0 for w, clip in zip(when, clips, strict=True)] == [True] * 3
    with pytest.raises(ValueError, match="speed must be above 0"):
        next(paced(clips, 0.0))


def test_in_process_the_clips_before_a_pause_are_revised_in_it() -> None:
    transcriber = _local(JointEngine(), window_s=20.0)  # room for every clip: only a pause ends a block
    speaker = PausingSpeaker(tone_clips(3))
    try:
        results = list(transcriber.stream(speaker, on_revision=speaker.on_revision, silence_s=speaker.silence_s))
    finally:
        transcriber.close()
    assert [r.result_id for r in results] == ["0", "1", "2"]
    assert [rev.result_ids for rev in speaker.revisions] == [("0", "1")]  # the third is alone
