"""The linter: every place a transcript breaks the convention, with span, rule, severity and a fix."""

from __future__ import annotations

from dataclasses import dataclass

from labeling._analysis import Analyser, Piece
from labeling._spec import ConventionSpec, Severity

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

    def lint(self, text: str) -> list[Violation]:
        """All violations in ``text``, ordered by position then rule."""
        violations = self._regex_violations(text)
        pieces, whitespace = self._analyser.analyse(text)
        severity = self.spec.severity_of
        for start, end, fix in whitespace:
            message = "one space between words" if fix else "no space here"
            violations.append(Violation(start, end, "whitespace", severity("whitespace"), message, fix))
        for i, piece in enumerate(pieces):
            if not piece.rules:
                continue
            fix = _glued_fix(pieces, i) if not piece.canonical else piece.canonical
            seen: set[str] = set()
            for rule, message in piece.rules:
                if rule in seen:
                    continue
                seen.add(rule)
                violations.append(Violation(piece.start, piece.end, rule, severity(rule), message, fix))
        violations.sort(key=lambda v: (v.start, v.end, v.rule))
        return violations

    def _regex_violations(self, text: str) -> list[Violation]:
        found: list[Violation] = []
        for rule in self.spec.rules:
            for match in rule.pattern.finditer(text):
                fix = match.expand(rule.replace) if rule.replace is not None else None
                if fix == match.group():
                    continue
                found.append(Violation(match.start(), match.end(), rule.id, rule.severity, rule.message, fix))
        return found


def _glued_fix(pieces: list[Piece], i: int) -> str:
    """A removed token glued to kept words on both sides ("hello,world") becomes a space, else nothing."""
    if 0 < i < len(pieces) - 1:
        before, piece, after = pieces[i - 1], pieces[i], pieces[i + 1]
        if before.end == piece.start and piece.end == after.start and before.canonical and after.canonical:
            return " "
    return ""
