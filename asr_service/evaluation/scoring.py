"""Word and character error counts, and the word alignment behind them (jiwer's Levenshtein alignment).

Inputs are already-normalised strings. WER of a set of utterances is corpus-level: the sum of their
errors over the sum of their reference words (`ErrorCounts` add up), never a mean of per-utterance rates.
CER counts characters, spaces included (jiwer's `process_characters`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import jiwer

__all__ = ["AlignedWord", "ErrorCounts", "UtteranceScore", "format_alignment", "score", "substitution_pairs"]

EQUAL, SUBSTITUTE, DELETE, INSERT = "equal", "substitute", "delete", "insert"


@dataclass(frozen=True, kw_only=True)
class ErrorCounts:
    """Edit operations between a reference and a hypothesis (words or characters)."""

    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def reference_length(self) -> int:
        """Tokens in the reference: hits + substitutions + deletions."""
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float | None:
        """errors / reference length; None when the reference is empty."""
        return self.errors / self.reference_length if self.reference_length else None

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            hits=self.hits + other.hits,
            substitutions=self.substitutions + other.substitutions,
            deletions=self.deletions + other.deletions,
            insertions=self.insertions + other.insertions,
        )

    @classmethod
    def total(cls, counts: Iterable[ErrorCounts]) -> ErrorCounts:
        """The sum of `counts`."""
        result = cls()
        for c in counts:
            result = result + c
        return result

    def to_json(self) -> dict[str, int]:
        """As written in results.json."""
        return {"hits": self.hits, "substitutions": self.substitutions, "deletions": self.deletions,
                "insertions": self.insertions}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> ErrorCounts:
        """From `to_json`'s output."""
        return cls(hits=int(data["hits"]), substitutions=int(data["substitutions"]),
                   deletions=int(data["deletions"]), insertions=int(data["insertions"]))


@dataclass(frozen=True, kw_only=True)
class AlignedWord:
    """One column of the alignment: ``ref`` is None for an insertion, ``hyp`` None for a deletion."""

    op: str  # "equal", "substitute", "delete" or "insert"
    ref: str | None
    hyp: str | None


@dataclass(frozen=True, kw_only=True)
class UtteranceScore:
    """Word and character errors of one utterance, with the word alignment."""

    words: ErrorCounts
    chars: ErrorCounts
    alignment: tuple[AlignedWord, ...]


def score(reference: str, hypothesis: str) -> UtteranceScore:
    """Align two normalised strings; either may be empty."""
    ref_words, hyp_words = reference.split(), hypothesis.split()
    words = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
    alignment: list[AlignedWord] = []
    for chunk in words.alignments[0]:
        refs = ref_words[chunk.ref_start_idx:chunk.ref_end_idx]
        hyps = hyp_words[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == INSERT:
            alignment.extend(AlignedWord(op=INSERT, ref=None, hyp=h) for h in hyps)
        elif chunk.type == DELETE:
            alignment.extend(AlignedWord(op=DELETE, ref=r, hyp=None) for r in refs)
        else:  # equal and substitute chunks pair words one to one
            alignment.extend(AlignedWord(op=chunk.type, ref=r, hyp=h) for r, h in zip(refs, hyps, strict=True))
    return UtteranceScore(
        words=ErrorCounts(hits=words.hits, substitutions=words.substitutions, deletions=words.deletions,
                          insertions=words.insertions),
        chars=_char_counts(" ".join(ref_words), " ".join(hyp_words)),
        alignment=tuple(alignment),
    )


def _char_counts(reference: str, hypothesis: str) -> ErrorCounts:
    if not reference and not hypothesis:
        return ErrorCounts()
    chars = jiwer.process_characters(reference, hypothesis)
    return ErrorCounts(hits=chars.hits, substitutions=chars.substitutions, deletions=chars.deletions,
                       insertions=chars.insertions)


def substitution_pairs(alignments: Iterable[Sequence[AlignedWord]]) -> Counter[tuple[str, str]]:
    """How often each (reference word, hypothesis word) substitution occurs."""
    pairs: Counter[tuple[str, str]] = Counter()
    for alignment in alignments:
        pairs.update((w.ref, w.hyp) for w in alignment if w.op == SUBSTITUTE and w.ref and w.hyp)
    return pairs


def format_alignment(alignment: Sequence[AlignedWord]) -> tuple[str, str, str]:
    """Three column-aligned lines: reference, hypothesis, and the operation marks (S, D, I).

    Errors are upper-cased and gaps are ``*`` (the sclite convention)::

        REF: the CAT sat ON  the mat ***
        HYP: the BAT sat *** the mat MAT
                 S       D           I
    """
    refs: list[str] = []
    hyps: list[str] = []
    marks: list[str] = []
    for w in alignment:
        ref = w.ref or ""
        hyp = w.hyp or ""
        if w.op != EQUAL:
            ref, hyp = ref.upper(), hyp.upper()
        width = max(len(ref), len(hyp), 1)
        refs.append((ref or "*" * width).ljust(width))
        hyps.append((hyp or "*" * width).ljust(width))
        marks.append({EQUAL: "", SUBSTITUTE: "S", DELETE: "D", INSERT: "I"}[w.op].ljust(width))
    return " ".join(refs).rstrip(), " ".join(hyps).rstrip(), " ".join(marks).rstrip()
