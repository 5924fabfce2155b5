"""Token analysis shared by the linter, the canonicaliser and the normaliser.

A transcript is split into tokens (words, numbers, tags, whitespace, single other characters); each
non-space token gets its canonical form under the spec and the rules it breaks. The linter reports those
rules, the canonicaliser joins the canonical forms, the normaliser joins them after dropping some roles.
One function decides what is canonical, so the three never disagree.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from labeling._numbers import NUMBER_WORDS, digits_to_words, number_words, parse_number_words
from labeling._spec import ConventionSpec

__all__ = ["Analyser", "Piece", "Role", "join_pieces"]

Role = Literal["word", "filler", "tag", "partial", "punct", "digits"]

# One-to-one character substitutions applied before tokenising (spans stay valid).
_CHAR_MAP = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u0060": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"',
    "\u2014": "-", "\u2013": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
})
_BRACKETS = (("[", "]"), ("{", "}"), ("<", ">"), ("(", ")"), ("*", "*"))
_WORD_CHARS = r"[^\W_]"
_ELONGATION = re.compile(r"(.)\1+")
_TIMESTAMP = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\b")
_SPEAKER_NAME = re.compile(r"(?:speaker|spk|spkr)\s*\d+|s\d+", re.IGNORECASE)
_XS = re.compile(r"x{2,}")


@dataclass(frozen=True, slots=True)
class Piece:
    """One token of the input with its canonical form and the rules it breaks.

    ``start``/``end`` index the analysed text; ``canonical`` is "" when the token is removed and may hold
    several words ("well known"); ``attach`` joins it to the previous piece without a space.
    """

    start: int
    end: int
    original: str
    canonical: str
    role: Role
    rules: tuple[tuple[str, str], ...] = ()
    attach: bool = False
    fixable: bool = True  # False: the rule needs a person (how a number was read); canonical is the original


def join_pieces(pieces: list[Piece]) -> str:
    """Join canonical forms with single spaces (attached punctuation without one)."""
    out: list[str] = []
    for piece in pieces:
        if not piece.canonical:
            continue
        if out and not piece.attach:
            out.append(" ")
        out.append(piece.canonical)
    return "".join(out)


class Analyser:
    """Computes the canonical form of every token of a text under one spec."""

    def __init__(self, spec: ConventionSpec) -> None:
        self.spec = spec
        brackets = list(_BRACKETS)
        if (spec.tags.open, spec.tags.close) not in brackets:
            brackets.insert(0, (spec.tags.open, spec.tags.close))
        tag_alternatives = "|".join(
            f"{re.escape(o)}[^{re.escape(o + c)}\\n]*{re.escape(c)}" for o, c in brackets
        )
        # "Mr." and "Dr.": the word and its dot are one token, one spelling to fix (unless "." is kept)
        keys = sorted((re.escape(k) for k in spec.spellings if k.isalpha()), key=len, reverse=True)
        abbreviations = (f"|(?P<abbrev>(?<![\\w.])(?i:{'|'.join(keys)})\\.(?=\\s|$))"
                         if keys and "." not in spec.punctuation_keep else "")
        self._token_re = re.compile(
            # a speaker label at the start of a line ("Interviewer:", "A:", "Speaker 2:"), or of a sentence
            # when it names a speaker by number ("... ok. S2: yes")
            r"(?P<speaker>(?:(?:^|(?<=\n))[ \t]*(?:(?:speaker|spk|spkr)[ \t]*\d+"
            r"|(?:(?i:mr|mrs|ms|dr)\.?[ \t]+)?[A-Z][A-Za-z]*(?:[ \t]?\d+)?)"
            r"|(?<=[.!?\]][ \t])(?:(?:speaker|spk|spkr)[ \t]*\d+|[A-Z][A-Za-z]*[ \t]?\d+|[A-Z]{2,}))[ \t]*:(?=\s|$))"
            r"|(?P<uncertain>\(\([^()\n]*\)\))"
            f"{abbreviations}"
            f"|(?P<tag>{tag_alternatives}|%{_WORD_CHARS}+)"
            rf"|(?P<acronym>(?<![\w.])(?:[A-Za-z]\.){{2,}}(?!\w))"
            rf"|(?P<time>(?<![\w:])\d{{1,2}}:\d{{2}}(?![\w:]))"
            rf"|(?P<digits>(?<![\w/-])(?:\+\d+[ -]?)?(?:\(\d+\)[ -]?)?\d+(?:[-/]\d+)+(?![\w/-]))"
            rf"|(?P<number>(?:'(?=\d\d'?s(?!\w)))?(?<!{_WORD_CHARS})\d+(?:[.,]\d+)*(?:st|nd|rd|th|'?s)?%?"
            rf"(?!{_WORD_CHARS}))"
            rf"|(?P<word>{_WORD_CHARS}+(?:['\-]{_WORD_CHARS}+)*[\-~]?)"
            r"|(?P<space>\s+)"
            r"|(?P<other>.)",
            re.DOTALL | re.MULTILINE,
        )
        self._fillers: dict[str, str] = {}
        for canonical, variants in spec.fillers.canonical.items():
            for form in (canonical, *variants):
                self._fillers[form] = canonical
                collapsed = _ELONGATION.sub(r"\1", form)
                # not a single letter: "mm" collapses to "m", which is the "m" of "a.m." or "m&m"
                if spec.fillers.collapse_elongation and len(collapsed) > 1:
                    self._fillers.setdefault(collapsed, canonical)
        self._canonical_fillers = frozenset(spec.fillers.canonical)
        self._tag_names = {name: name for name in spec.tags.allowed} | dict(spec.tags.variants)
        self._allowed_char = re.compile(f"[{spec.characters.allowed}]")
        self._disallowed = re.compile(f"[^{spec.characters.allowed}\\- ]")
        self._severity = spec.severities
        self._unfixable = tuple(r for r in spec.rules if r.replace is None)

    # -- tokens ---------------------------------------------------------------------------------------

    def analyse(self, text: str) -> tuple[list[Piece], list[tuple[int, int, str]]]:
        """Pieces for the non-space tokens of ``text``, and whitespace fixes as (start, end, fix)."""
        mapped = text.translate(_CHAR_MAP)
        pieces: list[Piece] = []
        spaces: list[tuple[int, int]] = []
        # what a spec rule without a fix matched ("$4.99") is the annotator's to rewrite: kept as it is
        protected = [m.span() for rule in self._unfixable for m in rule.pattern.finditer(text)]
        for match in self._token_re.finditer(mapped):
            kind = match.lastgroup
            start, end = match.span()
            raw = text[start:end]
            if kind == "space":
                spaces.append((start, end))
                continue
            if any(a <= start and end <= b for a, b in protected):
                role: Role = "digits" if any(c.isdigit() for c in raw) else "punct"
                glued = bool(pieces) and pieces[-1].end == start and not pieces[-1].fixable
                pieces.append(Piece(start, end, raw, raw, role, (), attach=glued, fixable=False))
                continue
            if kind == "speaker":
                piece = Piece(start, end, raw, "", "punct",
                              (("speaker-label", "no speaker labels: one transcript per clip"),))
            elif kind == "uncertain":
                piece = self._uncertain(raw, match.group()[2:-2], start, end)
            elif kind == "tag":
                piece = self._tag(raw, match.group(), start, end)
            elif kind == "abbrev":
                word = self._word(raw[:-1], match.group()[:-1], start, end - 1)
                piece = Piece(start, end, raw, word.canonical, word.role, word.rules, fixable=word.fixable)
            elif kind == "acronym":
                piece = self._acronym(raw, match.group(), start, end)
            elif kind == "time":
                piece = self._time(raw, match.group(), start, end)
            elif kind == "digits":
                piece = self._digit_string(raw, start, end)
            elif kind == "number":
                piece = self._number(raw, match.group(), start, end)
            elif kind == "word":
                piece = self._word(raw, match.group(), start, end)
            else:
                piece = self._other(raw, match.group(), start, end)
            pieces.append(piece)
        if self.spec.numbers.style == "digits":
            pieces = self._merge_number_words(pieces)
        return pieces, self._whitespace_fixes(text, pieces, spaces)

    def _finish(self, piece: Piece) -> Piece:
        if piece.canonical == piece.original:
            return Piece(piece.start, piece.end, piece.original, piece.canonical, piece.role, (), piece.attach)
        return piece

    def _tag(self, raw: str, text: str, start: int, end: int) -> Piece:
        inner = text[1:] if text.startswith("%") else text[1:-1]
        inner = _TIMESTAMP.sub(" ", inner)  # "[inaudible 00:14:02]"
        name = " ".join(unicodedata.normalize("NFKC", inner).lower().split())
        filler = self._filler_of(name)
        if filler is not None:
            return self._finish(self._filler_piece(raw, start, end, filler, [], written=raw))
        if name in self._tag_names:
            return self._tag_piece(raw, start, end, self._tag_names[name])
        if _SPEAKER_NAME.fullmatch(name):
            return Piece(start, end, raw, "", "punct",
                         (("speaker-label", "no speaker labels: one transcript per clip"),))
        if name.endswith("?") and any(c.isalnum() for c in name):  # "[tuesday?]": a guess
            return self._uncertain(raw, inner.strip().rstrip("?").strip(), start, end)
        allowed = ", ".join(self.spec.tags.render(t) for t in self.spec.tags.allowed)
        return Piece(start, end, raw, raw, "tag",
                     (("tag-unknown", f"unknown tag {raw!r}: use one of {allowed}, or write the words said"),),
                     fixable=False)

    def _tag_piece(self, raw: str, start: int, end: int, name: str) -> Piece:
        canonical = self.spec.tags.render(name)
        rules = [("tag-form", f"write this event as {canonical}")] if raw != canonical else []
        return self._finish(Piece(start, end, raw, canonical, "tag", tuple(rules)))

    def _uncertain(self, raw: str, words: str, start: int, end: int) -> Piece:
        """A guessed word in LDC's ``((word))`` or ``[word?]``: the guess, written plainly (the next pass
        canonicalises its words); no guess at all is ``[unintelligible]``."""
        guess = " ".join(words.split())
        if not guess:
            if "unintelligible" in self.spec.tags.allowed:
                canonical = self.spec.tags.render("unintelligible")
                return Piece(start, end, raw, canonical, "tag",
                             (("uncertain-word", f"no guess: write {canonical}"),))
            return Piece(start, end, raw, raw, "tag", (("uncertain-word", "write your best guess"),), fixable=False)
        return Piece(start, end, raw, guess, "word",
                     (("uncertain-word", f"write your best guess plainly, without marks: {guess!r}"),))

    def _acronym(self, raw: str, text: str, start: int, end: int) -> Piece:
        """Letters said one by one and written with dots ("F.B.I.", "a.m."): one word, no dots."""
        letters = text.replace(".", "")
        canonical = letters.lower() if self.spec.casing == "lower" else letters
        return Piece(start, end, raw, canonical, "word", (("acronym", f"write it {canonical!r}, without dots"),))

    def _time(self, raw: str, text: str, start: int, end: int) -> Piece:
        """A clock time: "7:45" is "seven forty five", "9:05" "nine oh five"; "10:00" may have been read
        "ten", "ten o'clock" or "ten hundred", so the annotator writes it."""
        hours, minutes = (int(x) for x in text.split(":"))
        if self.spec.numbers.style == "digits":
            return self._finish(Piece(start, end, raw, text, "word"))
        if hours > 24 or minutes > 59 or minutes == 0:
            return self._unknown_reading(raw, start, end, "a time on the hour, or not a time")
        minute_words = f"oh {digits_to_words(str(minutes))}" if minutes < 10 else digits_to_words(str(minutes))
        words = f"{digits_to_words(str(hours))} {minute_words}"
        return Piece(start, end, raw, words, "word", (("numbers", f"write the time as it is read: {words}"),))

    def _digit_string(self, raw: str, start: int, end: int) -> Piece:
        if self.spec.numbers.style == "digits":
            return self._finish(Piece(start, end, raw, raw, "word"))
        return self._unknown_reading(raw, start, end, "a digit string (phone, code, score)")

    def _unknown_reading(self, raw: str, start: int, end: int, what: str) -> Piece:
        """Digits whose spoken form fix cannot know: flagged, kept as they are for the annotator."""
        return Piece(start, end, raw, raw, "digits",
                     (("digit-string", f"{what}: write the digits in words as they were read, e.g. "
                                       "'seven four seven', 'seven forty seven' or 'oh' for a spoken zero"),),
                     fixable=False)

    def _filler_of(self, word: str) -> str | None:
        canonical = self._fillers.get(word)
        if canonical is None and self.spec.fillers.collapse_elongation and word.isalpha():
            canonical = self._fillers.get(_ELONGATION.sub(r"\1", word))
        return canonical

    def _filler_piece(
        self, raw: str, start: int, end: int, filler: str, rules: list[tuple[str, str]], written: str = ""
    ) -> Piece:
        policy = self.spec.fillers.policy
        if policy == "omit":
            return Piece(start, end, raw, "", "filler", (("filler-policy", "fillers are not transcribed"),))
        canonical = self.spec.tags.render(filler) if policy == "tag" else filler
        if policy == "tag" and not raw.startswith(self.spec.tags.open):
            rules = [*rules, ("filler-policy", f"fillers are tagged: write {canonical}")]
        elif written != filler:
            rules = [*rules, ("filler-spelling", f"write the filler as {canonical!r}")]
        return Piece(start, end, raw, canonical, "filler", tuple(rules))

    def _number(self, raw: str, text: str, start: int, end: int) -> Piece:
        if self.spec.numbers.style == "words":
            words = number_words(text)
            if words is None:
                return self._unknown_reading(raw, start, end, f"{text!r} can be read more than one way")
            return Piece(start, end, raw, words, "word", (("numbers", f"write numbers as words: {words}"),))
        canonical = text.replace(",", "") if "." not in text else text
        return self._finish(Piece(start, end, raw, canonical, "word", (("numbers", "write 1000, not 1,000"),)))

    def _other(self, raw: str, text: str, start: int, end: int) -> Piece:
        if text in self.spec.punctuation_keep:
            return Piece(start, end, raw, text, "punct", (), attach=True)
        symbol_word = self.spec.characters.symbols.get(text)
        if symbol_word is not None:
            return Piece(start, end, raw, symbol_word, "word", (("characters", f"write {text!r} as a word"),))
        if unicodedata.category(text).startswith("P"):
            return Piece(start, end, raw, "", "punct", (("punctuation", f"no punctuation: remove {raw!r}"),))
        return Piece(start, end, raw, "", "punct", (("characters", f"character {raw!r} is not allowed"),))

    def _word(self, raw: str, text: str, start: int, end: int) -> Piece:
        rules: list[tuple[str, str]] = []
        if raw != text:
            rules.append(("characters", "use plain ASCII apostrophes and hyphens"))
        word = unicodedata.normalize("NFKC", text)
        if word != text:
            rules.append(("characters", "unusual Unicode form"))
        if self.spec.casing == "lower" and word.lower() != word:
            rules.append(("casing", "write in lower case"))
            word = word.lower()
        lowered = word.lower()
        filler = self._filler_of(lowered)
        if filler is not None:
            return self._finish(self._filler_piece(raw, start, end, filler, rules, written=lowered))
        tag = self.spec.tags.word_forms.get("xxx" if _XS.fullmatch(lowered) else lowered)
        if tag is not None:
            return self._tag_piece(raw, start, end, tag)
        if word[-1] in "-~":
            return self._finish(self._partial(raw, word, start, end, rules))
        spelled = self.spec.spellings.get(lowered)
        if spelled is not None:
            rules.append(("spelling", f"spell it {spelled!r}"))
            word = spelled
        reduced = self.spec.reductions.get(lowered)
        if reduced is not None and self.spec.verbatim == "clean":
            rules.append(("reduction", f"clean verbatim: write it out, {reduced!r}"))
            word = reduced
        if "-" in word and self.spec.compound_hyphens == "split":
            rules.append(("compound-hyphen", "write compounds as separate words"))
            word = word.replace("-", " ")
        if any(c.isdigit() for c in word):
            word = self._spell_digits_in_word(word, rules)
        word = self._clean_characters(word, rules)
        role: Role = "filler" if word in self._canonical_fillers else "word"
        return self._finish(Piece(start, end, raw, word, role, tuple(rules)))

    def _partial(self, raw: str, word: str, start: int, end: int, rules: list[tuple[str, str]]) -> Piece:
        spec = self.spec.partial_words
        if spec.policy == "omit":
            return Piece(start, end, raw, "", "partial", (("partial-word", "partial words are not transcribed"),))
        stem = self._clean_characters(word.rstrip("-~"), rules).replace(" ", "")
        canonical = stem + spec.marker if stem else ""
        if canonical != word or raw[-1] != spec.marker:  # "wor—": the dash is the marker's, not a character
            rules.append(("partial-word", f"write a cut-off word as {canonical!r}"))
        return Piece(start, end, raw, canonical, "partial", tuple(rules))

    def _spell_digits_in_word(self, word: str, rules: list[tuple[str, str]]) -> str:
        if self.spec.numbers.style == "digits":
            return word
        parts = re.findall(r"\d+|\D+", word)
        spelled = " ".join((digits_to_words(p) or p) if p.isdigit() else p.strip() for p in parts)
        rules.append(("numbers", f"write numbers as words: {spelled}"))
        return " ".join(spelled.split())

    def _clean_characters(self, word: str, rules: list[tuple[str, str]]) -> str:
        if not self._disallowed.search(word):
            return word
        if self.spec.characters.fold_accents:
            folded = "".join(
                c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)
            )
            if folded != word:
                rules.append(("characters", "write letters without accents"))
                word = folded
        if self._disallowed.search(word):
            rules.append(("characters", f"only [{self.spec.characters.allowed}] are allowed in words"))
            word = " ".join(self._disallowed.sub("", word).split())
        return word

    # -- multi-token passes ---------------------------------------------------------------------------

    def _merge_number_words(self, pieces: list[Piece]) -> list[Piece]:
        out: list[Piece] = []
        i = 0
        while i < len(pieces):
            words = []
            for piece in pieces[i:]:
                if piece.role != "word" or piece.canonical not in NUMBER_WORDS | {"and", "oh"}:
                    break
                words.append(piece.canonical)
            parsed = parse_number_words(words) if words else None
            if parsed is None:
                out.append(pieces[i])
                i += 1
                continue
            value, used = parsed
            group = pieces[i:i + used]
            rules = (*tuple(r for p in group for r in p.rules), ("numbers", f"write numbers as digits: {value}"))
            first, last = group[0], group[-1]
            original = " ".join(p.original for p in group)
            out.append(Piece(first.start, last.end, original, str(value), "word", rules))
            i += used
        return out

    def _whitespace_fixes(
        self, text: str, pieces: list[Piece], spaces: list[tuple[int, int]]
    ) -> list[tuple[int, int, str]]:
        fixes: list[tuple[int, int, str]] = []
        starts = {p.start: p for p in pieces}
        for start, end in spaces:
            if start == 0 or end == len(text) or (end in starts and starts[end].attach):
                fixes.append((start, end, ""))
            elif text[start:end] != " ":
                fixes.append((start, end, " "))
        for before, after in itertools.pairwise(pieces):
            if before.end == after.start and before.canonical and after.canonical and not after.attach:
                fixes.append((before.end, before.end, " "))
        return fixes
