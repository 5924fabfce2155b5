"""The linter: every place a transcript breaks the convention, with span, rule, severity and a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labeling._analysis import Analyser, Piece
from labeling._spec import ConventionSpec, Severity

if TYPE_CHECKING:
    from labeling._canonical import Canonicaliser

__all__ = ["Linter", "Violation"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One breach of the convention.

    ``start``/``end`` are character offsets into the linted text; ``fix`` is the text that should replace
    that span (None when the rule offers no fix).
    """

    start: int
    end: int
    rule: str
    severity: Severity
    message: str
    fix: str | None

    def to_dict(self, text: str) -> dict[str, object]:
        """JSON-ready form, with the offending text quoted."""
        return {
            "start": self.start, "end": self.end, "text": text[self.start:self.end], "rule": self.rule,
            "severity": self.severity, "message": self.message, "fix": self.fix,
        }


class Linter:
    """Lints transcripts against one convention spec."""

    def __init__(self, spec: ConventionSpec) -> None:
        self.spec = spec
        self._analyser = Analyser(spec)
        self._canonicaliser: Canonicaliser | None = None

    def lint(self, text: str) -> list[Violation]:
        """All violations in ``text``, ordered by position then rule; each span once, under its most
        specific rule ("Umm" is a filler spelling, not also a casing error; "$25" a dollar amount, not
        also a symbol and a number)."""
        if not text.strip():
            return [Violation(0, len(text), "empty-transcript", self.spec.severity_of("empty-transcript"),
                              "nothing written: if nothing is said, write [silence] or the event heard", None)]
        violations = self._regex_violations(text)
        pieces, whitespace = self._analyser.analyse(text)
        severity = self.spec.severity_of
        for start, end, fix in whitespace:
            message = "one space between words" if fix else "no space here"
            violations.append(Violation(start, end, "whitespace", severity("whitespace"), message, fix))
        for i, piece in enumerate(pieces):
            if not piece.rules:
                continue
            rule, message = min(piece.rules, key=lambda r: _PRECEDENCE.get(r[0], 0))
            piece_fix: str | None = None
            if piece.fixable:
                piece_fix = _glued_fix(pieces, i) if not piece.canonical else piece.canonical
                if rule == "uncertain-word":  # the guess, itself written in the convention
                    piece_fix = self._canonical_of(piece_fix)
            violations.append(Violation(piece.start, piece.end, rule, severity(rule), message, piece_fix))
        return _runs_once(_most_specific(violations))

    def _regex_violations(self, text: str) -> list[Violation]:
        found: list[Violation] = []
        for rule in self.spec.rules:
            for match in rule.pattern.finditer(text):
                fix = match.expand(rule.replace) if rule.replace is not None else None
                if fix == match.group():
                    continue
                if fix is not None:  # the whole canonical form of the span, not only this rule's step
                    fix = self._canonical_of(fix)
                found.append(Violation(match.start(), match.end(), rule.id, rule.severity, rule.message, fix))
        return found

    def _canonical_of(self, text: str) -> str:
        from labeling._canonical import Canonicaliser  # the canonicaliser is built on the analyser, as we are

        if self._canonicaliser is None:
            self._canonicaliser = Canonicaliser(self.spec)
        return self._canonicaliser.canonicalise(text)


#: Which rule names a span when several apply, most specific first: the spec's own rules (not listed,
#: rank 0), then the built-in ones. Unknown ids rank with the spec's rules.
_PRECEDENCE = {rule: rank for rank, rule in enumerate((
    "speaker-label", "uncertain-word", "tag-unknown", "tag-form", "filler-policy", "filler-spelling",
    "partial-word", "digit-string", "numbers", "acronym", "spelling", "reduction", "compound-hyphen",
    "casing", "characters", "punctuation", "whitespace",
), start=1)}


def _runs_once(violations: list[Violation]) -> list[Violation]:
    """A run of marks ("...", "?!") is one violation, not one per character."""
    out: list[Violation] = []
    for v in violations:
        last = out[-1] if out else None
        if (last is not None and v.rule == "punctuation" and last.rule == "punctuation" and last.end == v.start
                and last.fix == v.fix == ""):
            out[-1] = Violation(last.start, v.end, last.rule, last.severity, last.message, "")
        else:
            out.append(v)
    return out


def _most_specific(violations: list[Violation]) -> list[Violation]:
    """One violation per span: of overlapping ones, the most specific rule's (the longer span on a tie)."""
    ranked = sorted(violations, key=lambda v: (_PRECEDENCE.get(v.rule, 0), -(v.end - v.start), v.start))
    kept: list[Violation] = []
    for v in ranked:
        empty = v.start == v.end  # a missing space sits between characters: it overlaps nothing
        if empty or not any(k.start < v.end and v.start < k.end for k in kept if k.start != k.end):
            kept.append(v)
    kept.sort(key=lambda v: (v.start, v.end, v.rule))
    return kept


def _glued_fix(pieces: list[Piece], i: int) -> str:
    """A removed token glued to kept words on both sides ("hello,world") becomes a space, else nothing."""
    if 0 < i < len(pieces) - 1:
        before, piece, after = pieces[i - 1], pieces[i], pieces[i + 1]
        if before.end == piece.start and piece.end == after.start and before.canonical and after.canonical:
            return " "
    return ""
