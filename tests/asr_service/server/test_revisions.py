"""Revisions on a real server: a streaming session that asks for them gets a second pass over blocks of its
clips, heard together, after the results and before the stream ends; one that does not ask, or a server
that does not allow them, gets none and spends nothing on them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from asr_service.client import AsrClient, Revision, revised
from tests.fakes import JointEngine, SecondPassEngine, tone_clips
from tests.paths import ESPEAK_SAMPLE, JFK_SAMPLE


def test_a_session_that_asks_gets_a_second_pass_over_each_block_of_its_clips(serve) -> None:  # type: ignore[no-untyped-def]
    engine = JointEngine()
    server = serve(engine, revision_window_s=2.5)  # two clips of 1 s a block
    revisions: list[Revision] = []
    with AsrClient(server.target) as client:
        results = list(client.stream(tone_clips(5), lockstep=True, on_revision=revisions.append))
    assert [r.text for r in results] == ["ask ask"] * 5  # each clip's own result first, unchanged
    ids = [r.result_id for r in results]
    assert [rev.result_ids for rev in revisions] == [tuple(ids[0:2]), tuple(ids[2:4])]  # the 5th clip is alone
    assert all(rev.text == "ASK ASK ASK ASK" and rev.inference_ms >= 0 for rev in revisions)
    assert revised([(r.result_id, r.text) for r in results], revisions) == [
        "ASK ASK ASK ASK", "", "ASK ASK ASK ASK", "", "ask ask"]
    assert sorted(engine.lengths) == [1.0] * 5 + [2.0] * 2  # each clip, then each block of two joined


def test_no_second_pass_unless_the_session_asks_and_the_server_allows(serve) -> None:  # type: ignore[no-untyped-def]
    engine = JointEngine()
    with AsrClient(serve(engine, revision_window_s=2.5).target) as client:
        assert len(list(client.stream(tone_clips(4), lockstep=True))) == 4  # no on_revision: not asked
    assert len(engine.lengths) == 4
    revisions: list[Revision] = []
    with AsrClient(serve(engine, revision_window_s=2.5, session_revisions=False).target) as client:
        assert len(list(client.stream(tone_clips(4), lockstep=True, on_revision=revisions.append))) == 4
    assert revisions == [] and len(engine.lengths) == 8
    with AsrClient(serve(engine, revision_window_s=2.5).target) as client:  # unary calls never get one
        for clip in tone_clips(3):
            client.recognize_clip(clip)
    assert len(engine.lengths) == 11


@pytest.mark.parametrize("engine", [JointEngine(worse=True), JointEngine(unsure=True), JointEngine(fail=True)],
                         ids=["worse", "less-sure", "failed"])
def test_a_second_pass_that_is_worse_or_fails_is_not_sent_and_the_results_stand(serve, engine: JointEngine) -> None:  # type: ignore[no-untyped-def]
    revisions: list[Revision] = []
    with AsrClient(serve(engine, revision_window_s=2.5).target) as client:
        results = list(client.stream(tone_clips(4), lockstep=True, on_revision=revisions.append))
    assert [r.text for r in results] == ["ask ask"] * 4
    assert revisions == []
    assert len(engine.lengths) == 6  # the second passes ran, and were dropped


def _cli(*args: str) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "asr_service.cli", *args], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]  # only JSON on stdout


def _check_revision_after_clips(records: list[dict[str, object]], path: str, n_clips: int) -> None:
    clips = records[:n_clips]
    assert [c["clip_id"] for c in clips] == [str(i) for i in range(n_clips)]
    assert all(c["text"] == "one clip" for c in clips)
    assert len(records) == n_clips + 1 and records[-1]["file"] == path  # the revision, after the clips it covers
    revision = records[-1]["revision"]
    assert isinstance(revision, dict)
    assert revision["text"] == "all of the clips heard together as one"
    assert revision["clip_ids"] == [str(i) for i in range(n_clips)] and len(revision["result_ids"]) == n_clips
    assert (revision["start_s"], revision["end_s"]) == (clips[0]["start_s"], clips[-1]["end_s"])


def test_asr_transcribe_prints_each_revision_after_the_clips_it_covers(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(SecondPassEngine())
    records = _cli("transcribe", str(ESPEAK_SAMPLE), "--server", server.target, "--json", "--stream", "--revisions")
    _check_revision_after_clips(records, str(ESPEAK_SAMPLE), 4)  # four sentences, 15 s of clips: one block
    assert all("revision" not in r for r in _cli("transcribe", str(ESPEAK_SAMPLE), "--server", server.target,
                                                  "--json", "--stream"))  # not asked: none


@pytest.mark.slow
def test_asr_listen_prints_each_revision_after_the_clips_it_covers(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(SecondPassEngine())
    records = _cli("listen", "--server", server.target, "--play", str(JFK_SAMPLE), "--json", "--revisions")
    _check_revision_after_clips(records, str(JFK_SAMPLE), 2)  # "... Americans," / "ask not ...": 11 s, one block
