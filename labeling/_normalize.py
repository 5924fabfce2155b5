"""The scoring normaliser: the canonical form with what WER should not count removed."""

from __future__ import annotations

import re

from labeling._analysis import Analyser
from labeling._canonical import Canonicaliser
from labeling._numbers import digits_to_words, number_words, paired_digits, spoken_digits
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

    def content(self, text: str) -> str:
        """What was heard, as the convention writes it: the canonical words with fillers, tags and
        partial words kept (hearing an "uh" or a [cough] is content), punctuation dropped, and digits
        the annotator left unread read out as scoring reads them. Two transcripts with the same content
        form differ only in how they are written."""
        pieces, _ = self._analyser.analyse(self._canonicaliser.canonicalise(text))
        words: list[str] = []
        for piece in pieces:
            if piece.role == "digits":
                words += _scoring_digits(piece.original)
            elif piece.role != "punct" and piece.canonical:
                words += piece.canonical.lower().split()
        return " ".join(_zeros(words))

    def normalize(self, text: str) -> str:
        """The scoring form of ``text``: lower case words separated by single spaces.

        Beyond the canonical form, scoring reads: digits whose reading the convention leaves to the
        annotator digit by digit ("02139" as "zero two one three nine"), "oh" between digits as "zero"
        ("nine oh two" = "nine zero two"), and reductions written out ("gonna" = "going to"), on both
        sides alike, so that the same words said count as the same words.
        """
        canonical = self._canonicaliser.canonicalise(text)
        pieces, _ = self._analyser.analyse(canonical)
        words: list[str] = []
        for piece in pieces:
            if piece.role == "digits":
                words += _scoring_digits(piece.original)
            elif piece.role not in self._dropped and piece.canonical:
                words += piece.canonical.replace("-", " ").lower().split()
        words = [w for word in words for w in self.spec.reductions.get(word, word).split()]
        return " ".join(_zeros(words))

    __call__ = normalize


def _scoring_digits(text: str) -> list[str]:
    """One reading of digits the convention leaves to the annotator, the same on both sides: a time on
    the hour as its hour ("10:00" "ten"), a price with cents as dollars and cents ("$12.99" "twelve
    ninety nine"), a number of 3-4 digits in pairs ("747" "seven forty seven", "2019" "twenty nineteen"),
    anything else (phone numbers, codes, leading zeros) digit by digit."""
    on_the_hour = re.fullmatch(r"(\d{1,2}):00", text)
    if on_the_hour is not None:
        return (digits_to_words(on_the_hour.group(1)) or "").split()
    price = re.fullmatch(r"(\d+)\.(\d\d)", text)
    if price is not None:
        cents = int(price.group(2))
        dollars = number_words(price.group(1))
        return [*(dollars.split() if dollars else paired_digits(price.group(1)) or spoken_digits(price.group(1))),
                *(["oh", *spoken_digits(price.group(2)[1])] if 0 < cents < 10 else
                  (digits_to_words(str(cents)) or "").split())]
    return paired_digits(text) or spoken_digits(text)


def _zeros(words: list[str]) -> list[str]:
    """"oh" (and "o") next to a spoken digit reads as "zero" ("oh oh four" is "zero zero four")."""
    out = list(words)
    changed = True
    while changed:
        changed = False
        for i, word in enumerate(out):
            if word in ("oh", "o") and any(0 <= j < len(out) and out[j] in _DIGIT_WORDS for j in (i - 1, i + 1)):
                out[i] = "zero"
                changed = True
    return out


_DIGIT_WORDS = frozenset(("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"))
