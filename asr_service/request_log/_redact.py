"""Redaction of the stored texts: e-mail addresses and phone numbers written in digits.

`redact(text)` replaces every e-mail address by ``[email]`` and every phone number written in digits by
``[phone]``. The request log applies it, when ``[request_log] redact = true``, to the model's ``text``
and a user's ``edited_text`` before they reach the disk; nothing else is changed.

What counts as a phone number: 7 to 15 digits (the E.164 maximum) in groups separated by one space,
dot or hyphen, optionally after a ``+`` country code and with the area code in parentheses:
``555-123-4567``, ``(555) 123-4567``, ``+44 20 7946 0958``, ``01 23 45 67 89``, ``1-800-555-0199``,
``5551234567``. What is deliberately left alone, because people say and type it all the time:

- numbers of fewer than 7 digits: years (2024), times (10:30, 9.45), prices ($12.99, 1,299.00),
  short counts, PINs, house numbers;
- dates written with separators (2024-03-14, 14.03.2024, 03-14-2024), IPv4 addresses and runs of
  years (``2019 2020``);
- decimal numbers (``3.14159265``, ``0.0000001``) and numbers that belong to a larger one or to an
  amount: after a currency sign, a comma, a colon, a slash or a decimal point (``$1234567``,
  ``1,234,567``), or before ``%`` or a currency sign (``1 250 000 €``).

Limits, so that nobody trusts it for more than it does:

- **Spoken digits are not caught**: "five five five one two three four" or "call me at five five
  five, one two three, four five six seven" stays as it is. Whisper usually writes phone numbers in
  digits, but not always, and never for an e-mail address dictated as "john dot smith at gmail dot com",
  which is not caught either.
- Any other run of 7+ grouped digits is taken for a phone number: order numbers, card numbers,
  account numbers (most of which one would rather not store anyway), numbers read out one after the
  other ("10 20 30 40"), and amounts with spaces as thousands separators and no currency sign next to
  them ("1 250 000 euros").
- Names, street addresses and other personal data are not touched.
- **The audio is never redacted.** A clip stored with consent ``"audio"`` still holds the voice saying
  the number. Consent ``"results"`` is the mode that stores no voice.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["EMAIL_MARK", "PHONE_MARK", "redact"]

EMAIL_MARK = "[email]"
PHONE_MARK = "[phone]"

_MIN_PHONE_DIGITS = 7
_MAX_PHONE_DIGITS = 15  # E.164

_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# Groups of digits joined by one separator; an optional "+CC" and "(area)" in front. The look-behinds
# keep numbers that continue a larger one out ("1,234,567", "$1234567", "0.0000001", "v1.2.3") while a
# word before the punctuation is fine ("Phone:555-123-4567"); the look-ahead keeps "12345678%",
# "1234567,50" and "1 250 000 €" out and refuses to end inside "1234.5678.9". The match never restarts
# inside a run of digits it has consumed, so the cost stays linear in the text (20,000 digit groups: 6 ms).
_PHONE = re.compile(
    r"""
    (?<![\w+$€£¥])(?<!\d[,.:/-])
    (?:\+\d{1,3}[ .-]?)?
    (?:\(\d{1,5}\)[ .-]?)?
    \d+(?:[ .-]\d+)*
    (?![\w%]|[,.:/-]\d|\ ?[$€£¥%])
    """,
    re.VERBOSE,
)
_GROUPS = re.compile(r"\d+")
_DATE_SEPARATORS = re.compile(r"^\d+([.-])\d+\1\d+$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def redact(text: str) -> str:
    """`text` with e-mail addresses replaced by ``[email]`` and phone numbers in digits by ``[phone]``."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MARK, text)
    if sum(c.isdigit() for c in text) < _MIN_PHONE_DIGITS:  # the common case: nothing to look at
        return text
    return _PHONE.sub(_phone_or_same, text)


def _phone_or_same(match: re.Match[str]) -> str:
    found = match.group(0)
    return PHONE_MARK if _looks_like_phone(found) else found


def _looks_like_phone(found: str) -> bool:
    groups = _GROUPS.findall(found)
    digits = sum(len(g) for g in groups)
    if not _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
        return False
    if "+" in found or "(" in found:
        return True  # "+44 ...", "(555) ...": nobody writes a date or a year that way
    if _IPV4.match(found) or _is_date(found):
        return False
    if len(groups) == 2 and "." in found:
        return False  # a decimal number: 3.14159265, 0.0000001
    # "2019 2020 2021": years side by side (a list read out), not a number
    return not all(len(g) == 4 and 1900 <= int(g) <= 2099 for g in groups)


def _is_date(found: str) -> bool:
    """A date written with "-" or "." in year-first or year-last order (2024-03-14, 14.03.2024, 03-14-2024)."""
    if not _DATE_SEPARATORS.match(found):
        return False
    a, b, c = (int(g) for g in _GROUPS.findall(found))
    candidates = [(a, b, c)] if a > 999 else [(c, b, a), (c, a, b)] if c > 999 else []
    for year, month, day in candidates:
        try:
            date(year, month, day)
        except ValueError:
            continue
        return True
    return False
