"""Revisions' bookkeeping (asr_service/revisions.py): blocks of a session's clips, which second pass is sent,
and a session's texts after its revisions. The server's side is in tests/asr_service/server/test_revisions.py."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from asr_service.engines.base import ForegroundGate, background_gate, yield_to_foreground
from asr_service.revisions import MAX_CONFIDENCE_DROP, MIN_KEPT, Block, Revision, RevisionBlocks, accept, revised
from tests.fakes import transcription


def _audio(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * 16_000), dtype=np.float32)


def test_a_block_closes_when_the_next_clip_would_pass_the_window() -> None:
    blocks = RevisionBlocks(window_s=5.0)
    assert blocks.add("r/0", _audio(2.0), "one two", 0.9) is None
    assert blocks.add("r/1", _audio(2.5), "three", 0.9) is None  # 4.5 s: fits
    closed = blocks.add("r/2", _audio(1.0), "four", 0.9)  # 5.5 s would not
    assert closed is not None
    assert closed.result_ids == ["r/0", "r/1"] and closed.texts == ["one two", "three"] and closed.characters == 11
    assert closed.joined().size == round(4.5 * 16_000)
    last = blocks.close()
    assert last is None  # "r/2" alone: nothing to hear together


def test_a_clip_longer_than_the_window_is_a_block_alone_and_a_lone_clip_gets_no_second_pass() -> None:
    blocks = RevisionBlocks(window_s=5.0)
    assert blocks.add("r/0", _audio(1.0), "a", 0.9) is None
    assert blocks.add("r/1", _audio(6.0), "b", 0.9) is None  # closes "r/0" alone: not returned
    assert blocks.add("r/2", _audio(1.0), "c", 0.9) is None  # closes "r/1" alone
    assert blocks.add("r/3", _audio(1.0), "d", 0.9) is None
    closed = blocks.close()
    assert closed is not None and closed.result_ids == ["r/2", "r/3"]
    assert blocks.close() is None  # nothing left


def test_only_a_second_pass_that_is_no_worse_is_sent() -> None:
    block = Block(result_ids=["r/0", "r/1"], audio=[_audio(1.0), _audio(1.0)],
                  texts=["and I asked you to think", "about where the water ends up"])
    joint = "and I asked you to think about where all that water ends up"
    sent = accept(block, transcription(_audio(2.0), joint), 12.5)
    assert sent == Revision(result_ids=("r/0", "r/1"), text=joint, inference_ms=12.5)
    assert accept(block, None, 0.0) is None  # the background was full
    assert accept(block, transcription(_audio(2.0), ""), 1.0) is None  # no text
    assert accept(block, transcription(_audio(2.0), joint, degenerate=True), 1.0) is None
    assert accept(block, transcription(_audio(2.0), "and I asked you to think about where the water ends up"),
                  1.0) is None  # what the clips said already
    # a window the model ended early: the speech after that point is lost
    short = "and I asked you to think"
    assert accept(block, transcription(_audio(2.0), short), 1.0) is None
    assert sum(c.isalnum() for c in short) < MIN_KEPT * block.characters
    # digits heard together are grouped: fewer words, the same digits
    digits = Block(result_ids=["r/0", "r/1", "r/2"], audio=[_audio(1.0)] * 3, texts=["1 0 0 0 1", "90210", "01803"])
    assert accept(digits, transcription(_audio(3.0), "10001, 90210, 01803."), 1.0) is not None


def test_a_second_pass_much_less_sure_than_the_clips_is_not_sent() -> None:
    blocks = RevisionBlocks(window_s=20.0)
    for k, (text, confidence) in enumerate([("Montreal forced.", 0.40), ("Um...", 0.90), ("", 0.0),
                                            ("A liner.", 0.55)]):
        blocks.add(f"r/{k}", _audio(1.0), text, confidence)
    block = blocks.close()
    assert block is not None
    # weighted by letters and digits: "Um" counts 2, the empty clip nothing -> (0.40*14 + 0.90*2 + 0.55*6) / 22
    assert block.confidence == pytest.approx((0.40 * 14 + 0.90 * 2 + 0.55 * 6) / 22)
    joint = "Montreal forced a liner um a liner"
    floor = block.confidence - MAX_CONFIDENCE_DROP
    assert accept(block, transcription(_audio(4.0), joint, confidence=floor - 0.01), 1.0) is None
    assert accept(block, transcription(_audio(4.0), joint, confidence=floor + 0.01), 1.0) is not None
    unknown = Block(result_ids=["r/0", "r/1"], audio=[_audio(1.0)] * 2, texts=["a", "b"])  # no confidences
    assert unknown.confidence is None
    assert accept(unknown, transcription(_audio(2.0), "a b c", confidence=0.01), 1.0) is not None
    silent = Block(result_ids=["r/0", "r/1"], audio=[_audio(1.0)] * 2, texts=["", ""], confidences=[0.0, 0.0])
    assert silent.confidence is None  # no clip had text: nothing to compare with


def test_revised_texts_replace_the_results_they_name() -> None:
    results = [("r/0", "Good morning"), ("r/1", "everyone today we"), ("r/2", "are going"), ("r/3", "to talk")]
    revisions = [Revision(result_ids=("r/1", "r/2"), text="everyone. Today we are going", inference_ms=1.0),
                 Revision(result_ids=("x/9", "r/3"), text="not ours", inference_ms=1.0)]  # another call's
    assert revised(results, revisions) == ["Good morning", "everyone. Today we are going", "", "to talk"]
    assert revised(results, []) == [text for _, text in results]


def test_background_work_waits_at_its_checkpoints_while_a_foreground_transcription_runs() -> None:
    gate = ForegroundGate()
    events: list[str] = []

    def background() -> None:
        background_gate(gate)
        try:
            yield_to_foreground()
            events.append("background step")
        finally:
            background_gate(None)

    gate.enter()
    worker = threading.Thread(target=background)
    worker.start()
    time.sleep(0.2)
    events.append("foreground done")
    gate.leave()
    worker.join(5)
    assert events == ["foreground done", "background step"]
    yield_to_foreground()  # a thread with no gate: a no-op
