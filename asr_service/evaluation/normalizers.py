"""Scoring normalisers: what both reference and hypothesis go through before WER is counted.

A normaliser is any ``Callable[[str], str]``.

- ``whisper-digits`` (the default): Whisper's English text normaliser (lower case, punctuation and
  bracketed noise tags removed, fillers dropped, British spellings and numbers standardised), then
  every number written in digits read digit by digit on both sides (`split_digits`).
- ``whisper``: Whisper's English text normaliser alone. It joins spoken digits into one number
  ("four five zero" -> "450") but leaves written ones apart ("4 5 0"), turns a lone "1" into "one" and
  drops leading zeros ("07" -> "7", "oh seven" -> "07"): a reference of spoken digits against a
  hypothesis of written ones scores 300-700 % WER on the shared speech's digit strings.
- ``convention``: the labeling package's normaliser, derived from the default transcription-convention
  spec (the one the annotators follow, so that convention differences are not counted as errors).
- ``none`` only collapses whitespace.

Why ``whisper-digits`` and not ``convention`` as the default: Whisper's normaliser is what published
WERs use, and it reads amounts, years, percentages and contractions alike on both sides ("$12.50" =
"twelve dollars fifty cents", "450" = "four hundred fifty", "I'm" = "I am"), which the convention
normaliser does not ("450" is "four fifty" there, "I'm" stays a word of its own); its one fault on
digits is the asymmetry above, which the digit step removes without touching any other word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from importlib import metadata

__all__ = ["DEFAULT_NORMALIZER", "NORMALIZERS", "Normalizer", "describe_normalizer", "get_normalizer", "split_digits"]

Normalizer = Callable[[str], str]

DEFAULT_NORMALIZER = "whisper-digits"

# A written number with a leading zero ("07", "0199" in "1-800-555-0199"), not a decimal ("3.05",
# "0.5") nor part of a word: Whisper's normaliser would drop the zero, which a spoken "oh" keeps.
_LEADING_ZERO = re.compile(r"(?<![\w.,$£€])(0\d+)(?![\w%]|[.,:]\d)")
_DIGITS = re.compile(r"\d+")


def split_digits(words: Iterable[str]) -> list[str]:
    """Whisper-normalised words with every all-digit word read digit by digit, the same on both sides.

    "450" -> "4 5 0" (so "four five zero", which Whisper joins into "450", equals "4 5 0", which it
    leaves apart), and "one" inside a run of digits is "1" (Whisper writes a lone digit 1 as "one":
    "1 0 0" -> "one 0 0"). Words with other characters ("$12.50", "20th", "50%", "1960s") are
    Whisper's forms for amounts, ordinals and percentages, already alike on both sides: kept whole.
    A number counts as as many words as it has digits: a wrong digit of a phone number is one error.
    """
    out: list[str] = []
    for word in words:
        out.extend(word if _DIGITS.fullmatch(word) else (word,))
    for i, word in enumerate(out):
        if word == "one" and any(_is_digit_or_one(out, j) for j in (i - 1, i + 1)):
            out[i] = "1"
    return out


def _is_digit_or_one(words: list[str], i: int) -> bool:
    return 0 <= i < len(words) and (words[i] in ("one", "1") or (len(words[i]) == 1 and words[i].isdigit()))


def _whisper() -> Normalizer:
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()

    def whisper(text: str) -> str:
        # It leaves a lone "." where a text ends in "..." ("Um..." -> ".", "No..." -> "no ."), as tiny.en
        # ends many clips: not a word, and counted as an inserted one it charged the clip paths alone.
        return " ".join(word for word in str(normalize(text)).split() if any(c.isalnum() for c in word))

    return whisper


def _whisper_digits() -> Normalizer:
    whisper = _whisper()

    def whisper_digits(text: str) -> str:
        kept_zeros = _LEADING_ZERO.sub(lambda m: " ".join(m.group(1)), text)
        return " ".join(split_digits(whisper(kept_zeros).split()))

    return whisper_digits


def _none() -> Normalizer:
    def none(text: str) -> str:
        return " ".join(text.split())

    return none


def _convention() -> Normalizer:
    from labeling import Normalizer as ConventionNormalizer

    return ConventionNormalizer().normalize


NORMALIZERS: dict[str, Callable[[], Normalizer]] = {
    "whisper-digits": _whisper_digits, "whisper": _whisper, "convention": _convention, "none": _none,
}
"""name -> factory; factories run once, lazily."""


@cache
def get_normalizer(name: str) -> Normalizer:
    """The normaliser called `name`; ValueError lists the known ones."""
    try:
        factory = NORMALIZERS[name]
    except KeyError:
        raise ValueError(f"normalizer: unknown {name!r} (known: {', '.join(sorted(NORMALIZERS))})") from None
    return factory()


def describe_normalizer(name: str) -> dict[str, str]:
    """What results.json records about the normaliser: its name and the version of what implements it."""
    described = {"name": name}
    if name.startswith("whisper"):
        described["whisper_normalizer"] = _version("whisper-normalizer")
    elif name == "convention":
        from labeling import load_spec

        described["convention"] = load_spec().label
    return described


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
