"""The scoring normaliser: the canonical form with what WER should not count removed."""

from __future__ import annotations

from labeling._analysis import Analyser
from labeling._canonical import Canonicaliser
from labeling._spec import ConventionSpec, load_spec

__all__ = ["Normalizer"]


class Normalizer:
    """Normalises transcripts for WER/CER under a convention spec.

    Canonicalises first (so every spelling of a word counts as one), then drops what the spec's
    ``scoring`` section names (fillers, event tags, partial words), kept punctuation and compound hyphens.
    Unlike Whisper's English normaliser it is driven by the same spec as the linter, so "what counts as
    the same words" is defined once.
    """

    def __init__(self, spec: ConventionSpec | None = None) -> None:
        self.spec = spec if spec is not None else load_spec()
        self._canonicaliser = Canonicaliser(self.spec)
        self._analyser = Analyser(self.spec)
        scoring = self.spec.scoring
        self._dropped = {
            role for role, drop in (
                ("filler", scoring.drop_fillers), ("tag", scoring.drop_tags),
                ("partial", scoring.drop_partial_words), ("punct", True),
            ) if drop
        }

    def normalize(self, text: str) -> str:
        """The scoring form of ``text``: lower case words separated by single spaces."""
        canonical = self._canonicaliser.canonicalise(text)
        pieces, _ = self._analyser.analyse(canonical)
        words = [p.canonical for p in pieces if p.role not in self._dropped and p.canonical]
        return " ".join(" ".join(words).replace("-", " ").lower().split())

    __call__ = normalize
