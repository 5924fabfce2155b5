"""The canonicaliser: applies every fix of the linter, deterministically, until nothing changes."""

from __future__ import annotations

from labeling._analysis import Analyser, join_pieces
from labeling._errors import CanonicalisationError
from labeling._spec import ConventionSpec

__all__ = ["Canonicaliser"]

#: Passes before giving up; a sane spec needs two (regex rules can match only after tokens are fixed).
MAX_PASSES = 6


class Canonicaliser:
    """Rewrites transcripts into the one canonical form of a convention spec.

    ``canonicalise`` is idempotent (its output is a fixed point of the rewrite) and its output lints clean
    of every fixable rule.
    """

    def __init__(self, spec: ConventionSpec) -> None:
        self.spec = spec
        self._analyser = Analyser(spec)
        self._fixable = tuple(r for r in spec.rules if r.replace is not None)

    def canonicalise(self, text: str) -> str:
        """The canonical form of ``text``."""
        current = text
        for _ in range(MAX_PASSES):
            rewritten = self._rewrite(current)
            if rewritten == current:
                self._check_fixed_point(current)
                return current
            current = rewritten
        raise CanonicalisationError(
            f"convention {self.spec.label}: no fixed point after {MAX_PASSES} passes for {text!r}; "
            "check that the regex rules do not undo each other or the built-in rules"
        )

    def _check_fixed_point(self, text: str) -> None:
        # Rules that undo each other within one pass ("cat" -> "dog" -> "cat") leave text the linter flags.
        for rule in self._fixable:
            assert rule.replace is not None
            if rule.pattern.sub(rule.replace, text) != text:
                raise CanonicalisationError(
                    f"convention {self.spec.label}: rule {rule.id!r} still changes the canonical form of "
                    f"{text!r}; another rule undoes it"
                )

    def _rewrite(self, text: str) -> str:
        for rule in self._fixable:
            assert rule.replace is not None
            text = rule.pattern.sub(rule.replace, text)
        pieces, _ = self._analyser.analyse(text)
        return join_pieces(pieces)
