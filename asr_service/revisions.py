"""Revisions: a second pass over a streaming session's recent clips, heard together.

Each clip of a session is answered alone and at once: that is what keeps a result inside the latency
budget. But the model does worse on short clips than on the same speech heard in one piece: it has less of
the voice and none of the words around it. A lecture with pauses, cut by the client VAD at every pause,
scored 32 % WER clip by clip against 18 % as one file (`bench/bench_vad_path.py --lecture`).

So a session that asks for them (`RecognitionConfig.revisions`) also gets revisions. The server keeps the
audio of the session's recent clips as a block of at most `window_s` seconds. When the next clip would not
fit, the speaker pauses (`pause`, `REVISION_PAUSE_S`), or the session ends, the block is closed. A closed
block of two clips or more is transcribed again, its clips joined end to end, as background work that
never delays a result (`Recognizer.revise`). The joint text replaces the texts of the block's results,
unless `accept` judges it worse (shorter than the clips' texts, or less sure).

Knows nothing of gRPC: the servicer turns a `Revision` into a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from asr_service.engines.base import Transcription

__all__ = ["END_WAIT_S", "MAX_CONFIDENCE_DROP", "MIN_KEPT", "PAUSE_POLL_S", "REVISION_PAUSE_S", "Block", "Revision",
           "RevisionBlocks", "accept", "revised"]

MIN_KEPT = 0.75
"""A second pass with fewer letters and digits than this share of the clips' own is not sent. A window the
model ends early drops the speech after that point (whole files lost 12 words that way, docs/vad-path.md);
the clips heard alone had it. Letters and digits, not words: "1 0 0 0 1" heard together is "10001", one
word where the clips had five."""


MAX_CONFIDENCE_DROP = 0.1
"""A second pass whose confidence is below the clips' own (their mean, weighted by letters and digits) by
more than this is not sent: heard together, speech recorded to differ (a cold, a whisper, a register
shift) left the model less sure and wrong ("Montreal forced a liner um a liner" at 0.32 for "Montreal
forced. / Um... / A liner." at 0.46). Chosen on four copies of tune, its talks and the lecture: 0.15 /
0.1 / 0.05 / 0 held back 1 / 8 / 11 / 20 of 88 passes and gave 13.23 / 12.97 / 13.40 / 14.09 % on tune
(13.40 % with none held back), 25.00 / 24.20 / 24.20 / 24.20 % on its talks (25.00 %), the lecture
unchanged (18.31 %)."""


END_WAIT_S = 10.0
"""When a session ends, its stream stays open this long at most for the second passes still running (the
last block's, started then: a block of up to 20 s took 0.3 to 0.9 s on the 2-core host); those not done by
then are dropped."""


REVISION_PAUSE_S = 2.5
"""With revisions and a live source, this much silence after a clip is a pause: the client says so (through a
server, an empty chunk) and the clips so far are revised then, rather than when the next clip would not fit.
Longer than every pause inside a recording of the shared speech (63 pauses between the VAD's clips: median
0.72 s, 95th percentile 1.34 s, longest 2.22 s, a sonnet's reader), so a talk's blocks fill up as before."""

PAUSE_POLL_S = 0.1
"""How often a client waiting for a live source's next clip reads its silence."""


@dataclass(frozen=True)
class Revision:
    """The new text of consecutive results of a session, heard together."""

    result_ids: tuple[str, ...]
    text: str
    inference_ms: float


@dataclass
class Block:
    """Consecutive clips of a session: their result ids, audio, and first-pass texts and confidences."""

    result_ids: list[str] = field(default_factory=list)
    audio: list[npt.NDArray[np.float32]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)  # one per clip; empty: not known (not judged)
    samples: int = 0

    def joined(self) -> npt.NDArray[np.float32]:
        """The clips end to end (each already holds the VAD's padding of silence before and after)."""
        return np.concatenate(self.audio)

    @property
    def characters(self) -> int:
        """Letters and digits in the first-pass texts."""
        return sum(_characters(text) for text in self.texts)

    @property
    def confidence(self) -> float | None:
        """The first pass's confidence: the clips' mean, weighted by their letters and digits (a clip with no
        text weighs nothing); None when no clip has text or the confidences are not known."""
        weights = [_characters(text) for text in self.texts]
        if len(self.confidences) != len(self.texts) or not sum(weights):
            return None
        return sum(c * w for c, w in zip(self.confidences, weights, strict=True)) / sum(weights)


class RevisionBlocks:
    """The block a session is filling: `add` each clip's audio and result, `close` at the session's end."""

    def __init__(self, window_s: float, sample_rate_hz: int = 16_000) -> None:
        self._limit = round(window_s * sample_rate_hz)
        self._block = Block()

    def add(self, result_id: str, audio: npt.NDArray[np.float32], text: str, confidence: float) -> Block | None:
        """Take a clip (its result's text and confidence) into the block; return the block it closed (one that
        would have grown past the window), when that block has two clips or more. A clip longer than the
        window is a block alone."""
        closed = None
        if self._block.samples and self._block.samples + audio.size > self._limit:
            closed = self.close()
        block = self._block
        block.result_ids.append(result_id)
        block.audio.append(audio)
        block.texts.append(text)
        block.confidences.append(confidence)
        block.samples += audio.size
        return closed

    def pause(self) -> Block | None:
        """The speaker paused: end the block being filled when it has two clips or more, and return it (a
        lone clip stays open, to be heard with the clips after the pause)."""
        return self.close() if len(self._block.result_ids) >= 2 else None

    def close(self) -> Block | None:
        """End the block being filled (the session ended, or a clip broke the run); return it when it has two
        clips or more, else None."""
        block, self._block = self._block, Block()
        return block if len(block.result_ids) >= 2 else None


def accept(block: Block, second: Transcription | None, inference_ms: float) -> Revision | None:
    """The revision of `block` from its second pass, or None when there is nothing better to send: no second
    pass (the background was full), no text, output the engine flagged degenerate, the same text as the clips
    had, less than `MIN_KEPT` of their letters and digits, or a confidence more than `MAX_CONFIDENCE_DROP`
    below theirs."""
    if second is None or second.degenerate or not second.text:
        return None
    if _characters(second.text) < MIN_KEPT * block.characters:
        return None
    first = block.confidence
    if first is not None and second.confidence < first - MAX_CONFIDENCE_DROP:
        return None
    if second.text.split() == " ".join(block.texts).split():
        return None
    return Revision(result_ids=tuple(block.result_ids), text=second.text, inference_ms=inference_ms)


def _characters(text: str) -> int:
    return sum(c.isalnum() for c in text)


def revised(results: list[tuple[str, str]], revisions: list[Revision]) -> list[str]:
    """The texts of a session's results, `(result_id, text)` in order, after its revisions: each revision's
    text stands at its first result, and its other results become empty. A revision naming a result that
    is not in `results` (another call's) is left out."""
    at = {result_id: k for k, (result_id, _) in enumerate(results)}
    texts = [text for _, text in results]
    for revision in revisions:
        if not revision.result_ids or any(r not in at for r in revision.result_ids):
            continue
        for result_id in revision.result_ids:
            texts[at[result_id]] = ""
        texts[at[revision.result_ids[0]]] = revision.text
    return texts
