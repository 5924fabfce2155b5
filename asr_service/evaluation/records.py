"""One scored utterance: reference, hypothesis, both normalised forms, errors, alignment, clips, slices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asr_service.evaluation.manifest import Utterance
from asr_service.evaluation.normalizers import Normalizer
from asr_service.evaluation.scoring import AlignedWord, ErrorCounts, score
from asr_service.evaluation.selection import slice_values
from asr_service.evaluation.transcription import ClipOutcome, FileTranscript
from asr_service.recognizer import NullReason

__all__ = ["UtteranceRecord", "build_record", "first_results_errors"]


@dataclass(frozen=True, kw_only=True)
class UtteranceRecord:
    """Everything results.json keeps about one utterance."""

    utt_id: str
    line: int
    audio: str
    reference: str
    hypothesis: str
    reference_normalized: str
    hypothesis_normalized: str
    words: ErrorCounts
    chars: ErrorCounts
    alignment: tuple[AlignedWord, ...] = ()
    clips: tuple[ClipOutcome, ...] = ()
    slices: Mapping[str, Sequence[str]] = field(default_factory=dict)  # slice key -> the row's values
    duration_s: float | None = None
    recorded_at: str | None = None

    @property
    def wer(self) -> float | None:
        """This utterance's word error rate (None for an empty normalised reference)."""
        return self.words.rate

    @property
    def null_clips(self) -> int:
        """Clips the recognizer answered with no text."""
        return sum(1 for c in self.clips if c.null_reason is not NullReason.NONE)

    def in_slice(self, key: str, value: str) -> bool:
        """True when the utterance belongs to slice `key` = `value`."""
        return value in self.slices.get(key, ())

    def to_json(self) -> dict[str, Any]:
        """As written in results.json."""
        return {
            "utt_id": self.utt_id, "line": self.line, "audio": self.audio,
            "recorded_at": self.recorded_at, "duration_s": self.duration_s,
            "slices": {k: list(v) for k, v in self.slices.items()},
            "reference": self.reference, "hypothesis": self.hypothesis,
            "reference_normalized": self.reference_normalized,
            "hypothesis_normalized": self.hypothesis_normalized,
            "words": {**self.words.to_json(), "reference_words": self.words.reference_length,
                      "errors": self.words.errors, "wer": self.words.rate},
            "chars": {**self.chars.to_json(), "reference_chars": self.chars.reference_length,
                      "errors": self.chars.errors, "cer": self.chars.rate},
            "latency_ms": [round(c.latency_ms, 2) for c in self.clips],
            "alignment": [[w.op, w.ref, w.hyp] for w in self.alignment],
            "clips": [c.to_json() for c in self.clips],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UtteranceRecord:
        """From `to_json`'s output (KeyError/TypeError/ValueError on a malformed record)."""
        return cls(
            utt_id=str(data["utt_id"]), line=int(data["line"]), audio=str(data["audio"]),
            reference=str(data["reference"]), hypothesis=str(data["hypothesis"]),
            reference_normalized=str(data["reference_normalized"]),
            hypothesis_normalized=str(data["hypothesis_normalized"]),
            words=ErrorCounts.from_json(data["words"]), chars=ErrorCounts.from_json(data["chars"]),
            alignment=tuple(AlignedWord(op=op, ref=ref, hyp=hyp) for op, ref, hyp in data.get("alignment", [])),
            clips=tuple(ClipOutcome.from_json(c) for c in data.get("clips", [])),
            slices={str(k): [str(v) for v in vs] for k, vs in dict(data.get("slices", {})).items()},
            duration_s=data.get("duration_s"), recorded_at=data.get("recorded_at"),
        )


def build_record(
    utt: Utterance, transcript: FileTranscript, normalizer: Normalizer, by: Sequence[str]
) -> UtteranceRecord:
    """Normalise, align and count the errors of one transcribed utterance."""
    ref_norm, hyp_norm = normalizer(utt.text), normalizer(transcript.text)
    scored = score(ref_norm, hyp_norm)
    return UtteranceRecord(
        utt_id=utt.utt_id, line=utt.line, audio=utt.audio,
        reference=utt.text, hypothesis=transcript.text,
        reference_normalized=ref_norm, hypothesis_normalized=hyp_norm,
        words=scored.words, chars=scored.chars, alignment=scored.alignment, clips=transcript.clips,
        slices={key: slice_values(utt, key) for key in by},
        duration_s=utt.duration_s if utt.duration_s is not None or utt.end_s is None else utt.end_s - utt.start_s,
        recorded_at=utt.recorded_at.isoformat() if utt.recorded_at else None,
    )


def first_results_errors(records: Sequence[UtteranceRecord], normalizer: Normalizer) -> ErrorCounts | None:
    """The word errors of the clips' own texts (their first results, joined), where revisions replaced some
    (`asr eval --revisions`): what the same utterances scored before the revisions, against the same
    normalised references. None when no record's text differs from its clips' (no revision was taken, or
    the run sent clips one by one). The runner stores it in results.json (``summary.first_results``)."""
    firsts = [" ".join(c.text.strip() for c in r.clips if c.text.strip()) for r in records]
    if all(first == r.hypothesis for first, r in zip(firsts, records, strict=True)):
        return None
    return ErrorCounts.total(score(r.reference_normalized, normalizer(first)).words
                             for first, r in zip(firsts, records, strict=True))
