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

from labeling._numbers import NUMBER_WORDS, digits_to_words, parse_number_words
from labeling._spec import ConventionSpec

__all__ = ["Analyser", "Piece", "Role", "join_pieces"]

Role = Literal["word", "filler", "tag", "partial", "punct"]

# One-to-one character substitutions applied before tokenising (spans stay valid).
_CHAR_MAP = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u0060": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"',
    "\u2014": "-", "\u2013": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
})
_BRACKETS = (("[", "]"), ("{", "}"), ("<", ">"), ("(", ")"))
_WORD_CHARS = r"[^\W_]"
_ELONGATION = re.compile(r"(.)\1+")


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
        self._token_re = re.compile(
            f"(?P<tag>{tag_alternatives}|%{_WORD_CHARS}+)"
            rf"|(?P<number>(?<!{_WORD_CHARS})\d+(?:[.,]\d+)*(?:st|nd|rd|th)?%?(?!{_WORD_CHARS}))"
            rf"|(?P<word>{_WORD_CHARS}+(?:['\-]{_WORD_CHARS}+)*[\-~]?)"
            r"|(?P<space>\s+)"
            r"|(?P<other>.)",
            re.DOTALL,
        )
        self._fillers: dict[str, str] = {}
        for canonical, variants in spec.fillers.canonical.items():
            for form in (canonical, *variants):
                self._fillers[form] = canonical
                if spec.fillers.collapse_elongation:
                    self._fillers.setdefault(_ELONGATION.sub(r"\1", form), canonical)
        self._canonical_fillers = frozenset(spec.fillers.canonical)
        self._tag_names = {name: name for name in spec.tags.allowed} | dict(spec.tags.variants)
        self._allowed_char = re.compile(f"[{spec.characters.allowed}]")
        self._disallowed = re.compile(f"[^{spec.characters.allowed}\\- ]")
        self._severity = spec.severities

    # -- tokens ---------------------------------------------------------------------------------------

    def analyse(self, text: str) -> tuple[list[Piece], list[tuple[int, int, str]]]:
        """Pieces for the non-space tokens of ``text``, and whitespace fixes as (start, end, fix)."""
        mapped = text.translate(_CHAR_MAP)
        pieces: list[Piece] = []
        spaces: list[tuple[int, int]] = []
        for match in self._token_re.finditer(mapped):
            kind = match.lastgroup
            start, end = match.span()
            raw = text[start:end]
            if kind == "space":
                spaces.append((start, end))
                continue
            if kind == "tag":
                piece = self._tag(raw, match.group(), start, end)
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
        name = " ".join(unicodedata.normalize("NFKC", inner).lower().split())
        filler = self._filler_of(name)
        if filler is not None:
            return self._finish(self._filler_piece(raw, start, end, filler, [], written=raw))
        if name in self._tag_names:
            canonical_name = self._tag_names[name]
            canonical = self.spec.tags.render(canonical_name)
            rules = [("tag-form", f"write this event as {canonical}")] if raw != canonical else []
            return self._finish(Piece(start, end, raw, canonical, "tag", tuple(rules)))
        allowed = ", ".join(self.spec.tags.render(t) for t in self.spec.tags.allowed)
        return Piece(start, end, raw, "", "tag", (("tag-unknown", f"unknown tag {raw!r} (allowed: {allowed})"),))

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
            words = digits_to_words(text)
            if words is not None:
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
        if word[-1] in "-~":
            return self._finish(self._partial(raw, word, start, end, rules))
        spelled = self.spec.spellings.get(lowered)
        if spelled is not None:
            rules.append(("spelling", f"spell it {spelled!r}"))
            word = spelled
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
        if canonical != word:
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
