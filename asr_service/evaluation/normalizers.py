"""Scoring normalisers: what both reference and hypothesis go through before WER is counted.

A normaliser is any ``Callable[[str], str]``. ``whisper`` (the default) is Whisper's English text
normaliser (lower case, punctuation and bracketed noise tags removed, fillers dropped, British spellings
and numbers standardised); ``convention`` is the labeling package's normaliser, derived from the default
transcription-convention spec (the one the annotators follow, so that convention differences are not
counted as errors); ``none`` only collapses whitespace.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

__all__ = ["NORMALIZERS", "Normalizer", "get_normalizer"]

Normalizer = Callable[[str], str]


def _whisper() -> Normalizer:
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()

    def whisper(text: str) -> str:
        return " ".join(str(normalize(text)).split())

    return whisper


def _none() -> Normalizer:
    def none(text: str) -> str:
        return " ".join(text.split())

    return none


def _convention() -> Normalizer:
    from labeling import Normalizer as ConventionNormalizer

    return ConventionNormalizer().normalize


NORMALIZERS: dict[str, Callable[[], Normalizer]] = {"whisper": _whisper, "convention": _convention, "none": _none}
"""name -> factory; factories run once, lazily."""


@cache
def get_normalizer(name: str) -> Normalizer:
    """The normaliser called `name`; ValueError lists the known ones."""
    try:
        factory = NORMALIZERS[name]
    except KeyError:
        raise ValueError(f"normalizer: unknown {name!r} (known: {', '.join(sorted(NORMALIZERS))})") from None
    return factory()
