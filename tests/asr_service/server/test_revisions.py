"""Revisions on a real server: a streaming session that asks for them gets a second pass over blocks of its
clips, heard together, after the results and before the stream ends; one that does not ask, or a server
that does not allow them, gets none and spends nothing on them."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

import vad
from asr_service.client import AsrClient, Revision, revised
from asr_service.revisions import REVISION_PAUSE_S
from protos.asr.v1 import asr_pb2, asr_pb2_grpc
from tests.fakes import JointEngine, PausingSpeaker, SecondPassEngine, tone_clips
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


class _LiveStream:
    """A raw StreamingRecognize call whose messages the test sends one by one, as a live client would: between
    them the client says nothing (the replies must come on their own)."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.insecure_channel(target)
        self._outbox: queue.Queue[asr_pb2.StreamingRecognizeRequest | None] = queue.Queue()
        config = asr_pb2.RecognitionConfig(
            format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=16_000), revisions=True)
        self._outbox.put(asr_pb2.StreamingRecognizeRequest(request_id="live-1", config=config))
        self.replies: Iterator[asr_pb2.StreamingRecognizeResponse] = asr_pb2_grpc.RecognizerStub(
            self._channel).StreamingRecognize(iter(self._outbox.get, None), timeout=20)

    def clip(self, index: int) -> asr_pb2.StreamingRecognizeResponse:
        """Send the `index`th one-second clip; its result."""
        self._outbox.put(asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(
            clip_id=str(index), data=tone_clips(1)[0].to_bytes(), end_of_utterance=True)))
        reply = next(self.replies)
        assert reply.HasField("result")
        return reply

    def pause(self) -> None:
        """An empty chunk between clips: the speaker has paused."""
        self._outbox.put(asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk()))

    def end(self) -> list[asr_pb2.StreamingRecognizeResponse]:
        """Close the client's side; the replies left."""
        self._outbox.put(None)
        left = list(self.replies)
        self._channel.close()
        return left


def test_a_revision_is_sent_when_its_second_pass_is_done_not_with_the_next_result(serve) -> None:  # type: ignore[no-untyped-def]
    live = _LiveStream(serve(JointEngine(), revision_window_s=2.5).target)  # two clips of 1 s a block
    first = [live.clip(i).result.result_id for i in range(3)]  # the third clip closes the block of the first two
    revision = next(live.replies)  # while the client sends nothing (before, it waited for the 4th clip's result)
    assert list(revision.revision.result_ids) == first[:2] and revision.revision.text == "ASK ASK ASK ASK"
    assert live.end() == []  # the last block holds the third clip alone: nothing to revise


def test_a_pause_revises_the_clips_so_far_at_once(serve) -> None:  # type: ignore[no-untyped-def]
    engine = JointEngine()
    live = _LiveStream(serve(engine, revision_window_s=20.0).target)  # room for every clip: only a pause ends a block
    live.clip(0)
    live.pause()  # one clip is not a block: it stays open, to be heard with the clips after the pause
    ids = [live.clip(i).result.result_id for i in (1, 2)]
    live.pause()
    revision = next(live.replies)  # in the pause, while the client sends nothing
    assert len(revision.revision.result_ids) == 3 and list(revision.revision.result_ids[1:]) == ids
    assert revision.revision.text == "ASK ASK ASK ASK ASK ASK"
    live.clip(3)
    live.pause()  # a block of one clip, again: no second pass
    later = live.clip(4)
    left = live.end()  # the last block, clips 3 and 4, is revised as the stream ends
    assert [list(r.revision.result_ids) for r in left] == [[ids[1].rsplit("/", 1)[0] + "/3", later.result.result_id]]
    assert sorted(engine.lengths) == [1.0] * 5 + [2.0, 3.0]


def test_a_live_client_tells_the_server_of_a_pause_and_gets_the_revision_in_it(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(JointEngine(), revision_window_s=20.0)  # room for every clip: only a pause ends a block
    speaker = PausingSpeaker(tone_clips(3))
    with AsrClient(server.target) as client:
        results = list(client.stream(speaker, on_revision=speaker.on_revision, silence_s=speaker.silence_s))
    assert len(results) == 3
    assert [rev.result_ids for rev in speaker.revisions] == [(results[0].result_id, results[1].result_id)]


def test_a_client_without_a_silence_measure_sends_no_pause(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(JointEngine(), revision_window_s=20.0)
    clips = tone_clips(3)

    def speaker() -> Iterator[vad.Clip]:  # a gap the client cannot tell from a long utterance
        yield from clips[:2]
        time.sleep(REVISION_PAUSE_S + 0.5)  # longer than a pause: only the source's silence may say it is one
        yield clips[2]

    revisions: list[Revision] = []
    with AsrClient(server.target) as client:
        results = list(client.stream(speaker(), on_revision=revisions.append))
    assert [rev.result_ids for rev in revisions] == [tuple(r.result_id for r in results)]  # one block, to the end


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
