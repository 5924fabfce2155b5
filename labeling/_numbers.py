"""Numbers between digits and English words, deterministic both ways.

Digits to words: cardinals up to 10**15, decimals ("3.5" -> "three point five"), ordinals ("21st" ->
"twenty first"), percentages, and four-digit years read in pairs ("1984" -> "nineteen eighty four").
Words to digits: runs of cardinal number words ("two hundred and five" -> "205").
Words are never hyphenated ("twenty five"), so one spelling exists for each number.
"""

from __future__ import annotations

import re

__all__ = ["NUMBER_WORDS", "digits_to_words", "number_words", "paired_digits", "parse_number_words", "spoken_digits"]

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)
_TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}
_NUMBER_TOKEN = re.compile(r"(\d+(?:,\d{3})*)(?:\.(\d+))?(st|nd|rd|th)?(%)?")
_DECADE = re.compile(r"'?(\d+)'?s")

_WORD_VALUES: dict[str, int] = {w: i for i, w in enumerate(_ONES)}
_WORD_VALUES.update({w: 10 * i for i, w in enumerate(_TENS) if w != "_"})
_SCALE_VALUES = {"hundred": 100, **{name: value for value, name in _SCALES}}
#: Every word that can be part of a spelled cardinal number.
NUMBER_WORDS: frozenset[str] = frozenset(_WORD_VALUES) | frozenset(_SCALE_VALUES)


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(_ONES[ones])
    elif rest or not words:
        words.append(_ONES[rest])
    return words


def cardinal_words(n: int) -> list[str]:
    """``n`` (0 <= n < 10**15) in words: 1205 -> ["one", "thousand", "two", "hundred", "five"]."""
    if n < 1000:
        return _below_thousand(n)
    words: list[str] = []
    for value, name in _SCALES:
        if n >= value:
            words += [*cardinal_words(n // value), name]
            n %= value
    if n:
        words += _below_thousand(n)
    return words


def _year_words(n: int) -> list[str]:
    high, low = divmod(n, 100)
    if low == 0:
        return [*_below_thousand(high), "hundred"]
    return [*_below_thousand(high), *(["oh", _ONES[low]] if low < 10 else _below_thousand(low))]


def _ordinal(words: list[str]) -> list[str]:
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return [*words[:-1], last]


def _spell_digits(text: str) -> list[str]:
    """Digit by digit, group commas skipped: "0,001" -> zero zero zero one."""
    return [_ONES[int(d)] for d in text if d.isdigit()]


def digits_to_words(token: str) -> str | None:
    """Spell a number token ("25", "1,000", "3.5", "21st", "50%") in words; None if it is not one."""
    match = _NUMBER_TOKEN.fullmatch(token)
    if match is None:
        return None
    integer_text, fraction, ordinal, percent = match.groups()
    integer = int(integer_text.replace(",", ""))
    if integer >= 10**15:
        return " ".join(_spell_digits(integer_text))
    is_year = (
        fraction is None and ordinal is None and percent is None and "," not in integer_text
        and len(integer_text) == 4 and (1100 <= integer <= 1999 or 2010 <= integer <= 2099)
    )
    words = _year_words(integer) if is_year else cardinal_words(integer)
    if len(integer_text) > 1 and integer_text.startswith("0"):
        words = _spell_digits(integer_text)  # codes and times: "007" -> "zero zero seven"
    if fraction is not None:
        words += ["point", *(_ONES[int(d)] for d in fraction)]
    if ordinal is not None and fraction is None:
        words = _ordinal(words)
    if percent is not None:
        words.append("percent")
    return " ".join(words)


def parse_number_words(words: list[str]) -> tuple[int, int] | None:
    """Parse the longest cardinal at the start of ``words``: (value, words consumed), or None.

    "and" is accepted after "hundred" or a scale ("two hundred and five"); a teen followed by tens or
    "oh" is read as a year ("nineteen eighty four" -> 1984), the inverse of :func:`digits_to_words`.
    """
    year = _parse_year(words)
    if year is not None:
        return year
    total, group, used, i = 0, 0, 0, 0
    last_kind: str | None = None
    last_scale = 10**18
    while i < len(words):
        word = words[i]
        kind: str
        if word in _WORD_VALUES and _WORD_VALUES[word] < 20:
            value = _WORD_VALUES[word]
            if value == 0:
                if last_kind is not None:
                    break
                kind = "zero"
            elif last_kind in (None, "hundred", "scale") or (last_kind == "tens" and value < 10):
                kind = "unit"
            else:
                break
            group += value
        elif word in _WORD_VALUES:
            if last_kind not in (None, "hundred", "scale"):
                break
            group += _WORD_VALUES[word]
            kind = "tens"
        elif word == "hundred":
            if last_kind not in ("unit", "tens") or not 0 < group < 100:
                break
            group *= 100
            kind = "hundred"
        elif word in _SCALE_VALUES:
            scale = _SCALE_VALUES[word]
            if last_kind not in ("unit", "tens", "hundred") or scale >= last_scale:
                break
            total += group * scale
            group, last_scale = 0, scale
            kind = "scale"
        elif word == "and" and last_kind in ("hundred", "scale") and i + 1 < len(words) \
                and words[i + 1] in _WORD_VALUES and _WORD_VALUES[words[i + 1]] > 0:
            i += 1
            continue
        else:
            break
        last_kind = kind
        i += 1
        used = i
    if used == 0:
        return None
    return total + group, used


def _parse_year(words: list[str]) -> tuple[int, int] | None:
    if len(words) < 2 or words[0] not in _WORD_VALUES or not 11 <= _WORD_VALUES[words[0]] <= 20:
        return None
    if _WORD_VALUES[words[0]] == 20 and not (words[1] in _WORD_VALUES and _WORD_VALUES[words[1]] >= 10):
        return None  # "twenty five" is a cardinal; "twenty ten" and "twenty twenty four" are years
    century = _WORD_VALUES[words[0]] * 100
    if words[1] == "oh" and len(words) > 2 and words[2] in _WORD_VALUES and 0 < _WORD_VALUES[words[2]] < 10:
        return century + _WORD_VALUES[words[2]], 3
    if words[1] in _WORD_VALUES and _WORD_VALUES[words[1]] >= 20:
        tens = _WORD_VALUES[words[1]]
        if len(words) > 2 and words[2] in _WORD_VALUES and 0 < _WORD_VALUES[words[2]] < 10:
            return century + tens + _WORD_VALUES[words[2]], 3
        return century + tens, 2
    if words[1] in _WORD_VALUES and 10 <= _WORD_VALUES[words[1]] <= 19:
        return century + _WORD_VALUES[words[1]], 2
    return None


def _plural(words: list[str]) -> list[str]:
    last = words[-1]
    return [*words[:-1], last[:-1] + "ies" if last.endswith("y") else last + "s"]


def number_words(token: str) -> str | None:
    """A number token in words when only one reading is likely; None when the annotator must say how it
    was read.

    Certain: 0-99, round hundreds below a thousand and round thousands, comma-grouped cardinals
    ("1,250"), decimals, ordinals, percentages, years 1100-1999 (in pairs) and 2000-2009, decades ("80s",
    "1980s"). Not: other numbers of three digits or more ("747" is "seven four seven", "seven forty
    seven" or "seven hundred forty seven"), years 2010-2099 ("twenty nineteen" or "two thousand
    nineteen"), a leading zero ("007": "oh" or "zero"), several decimal points (a code or a version).
    """
    decade = _DECADE.fullmatch(token)
    if decade is not None:
        digits = decade.group(1)
        value = int(digits)
        if (len(digits) == 2 and value % 10 == 0 and value >= 10) or (len(digits) == 4 and 1100 <= value <= 1999
                                                                      and value % 10 == 0):
            return " ".join(_plural(_year_words(value) if len(digits) == 4 else cardinal_words(value)))
        return None
    match = _NUMBER_TOKEN.fullmatch(token)
    if match is None:
        return None
    integer_text, fraction, ordinal, percent = match.groups()
    if len(integer_text) > 1 and integer_text.startswith("0"):
        return None
    if "," in integer_text or fraction is not None or ordinal is not None or percent is not None:
        return digits_to_words(token)
    value = int(integer_text)
    certain = (
        value < 100
        or (value < 1000 and value % 100 == 0)
        or (value % 1000 == 0 and value < 10**15)
        or (len(integer_text) == 4 and (1100 <= value <= 1999 or 2000 <= value <= 2009))
    )
    return digits_to_words(token) if certain else None


def spoken_digits(text: str) -> list[str]:
    """Every digit of ``text`` as a word, zero as "zero": a reading for scoring, not for transcripts."""
    return _spell_digits(text)


def paired_digits(text: str) -> list[str] | None:
    """A number of 3 or 4 digits read in pairs, as years, model and flight numbers usually are ("747"
    "seven forty seven", "1450" "fourteen fifty", "2019" "twenty nineteen"); None for other tokens. A
    reading for scoring, not for transcripts."""
    if not re.fullmatch(r"[1-9]\d{2,3}", text):
        return None
    value = int(text)
    high, low = divmod(value, 100)
    if low == 0:
        return cardinal_words(value) if len(text) == 3 else [*_below_thousand(high), "hundred"]
    return [*_below_thousand(high), *(["oh", _ONES[low]] if low < 10 else _below_thousand(low))]
