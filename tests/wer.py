"""The word error rate the speech tests assert on: the project's own scoring, Whisper's English normaliser."""

from __future__ import annotations

from collections.abc import Sequence

from asr_service.evaluation.normalizers import get_normalizer
from asr_service.evaluation.scoring import ErrorCounts, score

__all__ = ["wer"]


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: all word errors over all reference words, after normalising both sides."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    normalize = get_normalizer("whisper")
    pairs = zip(references, hypotheses, strict=True)
    counts = ErrorCounts.total(score(normalize(r), normalize(h)).words for r, h in pairs)
    if not counts.reference_length:
        raise ValueError("the references have no words")
    return counts.errors / counts.reference_length
