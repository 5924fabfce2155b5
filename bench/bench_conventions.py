"""Convention accuracy: the linter, the fixer and the scoring normaliser against hand-written transcripts.

Cases (bench/data/convention_cases.jsonl, one JSON object a line) are transcripts as people type them when
they half-follow the convention, plus some already clean. Each has the violations an annotator who knows the
convention would mark (a substring of the text and a rule id, in text order: a span is found from the end of
the previous one, at word boundaries; an optional "start" pins it), the canonical form ("canonical", null
where the annotator must decide, e.g. how a digit string was read) and the words a listener heard ("meaning").

    python bench/bench_conventions.py [--cases FILE] [--spec FILE] [--verbose] [--json FILE]

Prints, for the spec's convention:

- lint: precision and recall over violations, overall and per rule (rule, expected, found, matched,
  precision, recall). A found violation matches an expected one when the rule ids are equal and the spans
  overlap; "matched" counts the expected violations found (recall = matched / expected), precision is the
  share of found violations that match one. `--verbose` lists the misses and false alarms (case, rule, span).
- over-counting: found violations lying on characters an earlier found violation of the same case already
  covers (one span reported twice), with the rule pairs.
- clean cases: how many of the cases with no expected violation got any.
- fix: for the cases with a canonical form, how many `canonicalise(text)` gives exactly; "fix changed
  meaning": the cases whose `Normalizer(canonicalise(text))` words differ from `Normalizer(meaning)`;
  and how many null-canonical cases fix left with no violation of the unfixable rules they expect
  (digit-string, dollars-and-cents, tag-unknown, empty-transcript): those must stay flagged.
- normaliser: how many cases have `Normalizer(text) == Normalizer(meaning)`.

`--json FILE` writes the figures. Not a pass/fail test: the exit status is 0 unless the cases or the spec
cannot be read (2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from labeling import Canonicaliser, LabelingError, Linter, Normalizer, load_spec  # noqa: E402

DEFAULT_CASES = REPO_ROOT / "bench" / "data" / "convention_cases.jsonl"
#: Rules with no fix: the annotator must act, so the canonicaliser must leave them flagged.
UNFIXABLE = frozenset({"digit-string", "dollars-and-cents", "tag-unknown", "empty-transcript"})


@dataclass(frozen=True)
class Span:
    """One violation: expected (from a case) or found (by the linter)."""

    start: int
    end: int
    rule: str
    text: str

    def overlaps(self, other: Span) -> bool:
        """Shared characters; an empty span (the empty transcript) counts as one character wide."""
        return self.start < max(other.end, other.start + 1) and other.start < max(self.end, self.start + 1)


@dataclass(frozen=True)
class Case:
    """One hand-written transcript with what the convention says about it."""

    id: str
    text: str
    canonical: str | None
    meaning: str
    expected: tuple[Span, ...]
    note: str


# ---------------------------------------------------------------------------------------------------- cases


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "'\u2019"


def _acceptable(text: str, span: str, i: int) -> bool:
    """Whether ``span`` at ``i`` stands alone: not inside a longer word, not part of a longer whitespace run."""
    before = text[i - 1] if i > 0 else ""
    after = text[i + len(span)] if i + len(span) < len(text) else ""
    if span.isspace():
        # a single space between two non-spaces is the one allowed separator, never a violation
        return not (before.isspace() or after.isspace()) and not (span == " " and before and after)
    if _is_word_char(span[0]) and before and _is_word_char(before):
        return False
    return not (_is_word_char(span[-1]) and after and _is_word_char(after))


def locate(text: str, spans: list[dict[str, Any]], case_id: str) -> tuple[Span, ...]:
    """Offsets of a case's expected violations, found in order from the end of the previous one."""
    out: list[Span] = []
    pos = 0
    for item in spans:
        wanted, rule = str(item["text"]), str(item["rule"])
        if "start" in item:
            i = int(item["start"])
            if text[i:i + len(wanted)] != wanted:
                raise ValueError(f"case {case_id}: {wanted!r} is not at {i}")
        elif wanted == "":
            i = pos
        else:
            i = text.find(wanted, pos)
            while i >= 0 and not _acceptable(text, wanted, i):
                i = text.find(wanted, i + 1)
            if i < 0:
                raise ValueError(f"case {case_id}: {wanted!r} ({rule}) not found after offset {pos}")
        out.append(Span(i, i + len(wanted), rule, wanted))
        pos = i + len(wanted)
    return tuple(out)


def load_cases(path: Path) -> list[Case]:
    """The cases of a JSONL file; ValueError names the line of a malformed one."""
    cases: list[Case] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = str(row["text"])
            canonical = row["canonical"]
            cases.append(Case(
                id=str(row["id"]), text=text, canonical=None if canonical is None else str(canonical),
                meaning=str(row["meaning"]), expected=locate(text, list(row["violations"]), str(row["id"])),
                note=str(row.get("note", ""))))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}:{n}: malformed case ({exc})") from exc
    ids = Counter(c.id for c in cases)
    duplicated = [i for i, k in ids.items() if k > 1]
    if duplicated:
        raise ValueError(f"{path}: duplicate case ids {duplicated}")
    return cases


# ---------------------------------------------------------------------------------------------------- scoring


@dataclass
class RuleCount:
    """Per rule tallies; matched_expected over expected is recall, matched_found over found is precision."""

    expected: int = 0
    found: int = 0
    matched_expected: int = 0
    matched_found: int = 0

    def add(self, other: RuleCount) -> None:
        self.expected += other.expected
        self.found += other.found
        self.matched_expected += other.matched_expected
        self.matched_found += other.matched_found

    @property
    def precision(self) -> float | None:
        return self.matched_found / self.found if self.found else None

    @property
    def recall(self) -> float | None:
        return self.matched_expected / self.expected if self.expected else None

    def figures(self) -> dict[str, Any]:
        return {"expected": self.expected, "found": self.found, "matched": self.matched_expected,
                "found_matching": self.matched_found, "precision": _round(self.precision),
                "recall": _round(self.recall)}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _guard(fn: Callable[[str], Any], text: str, errors: list[str], what: str, case_id: str) -> Any:
    """``fn(text)``, or None (noted in ``errors``) when the code under test raises."""
    try:
        return fn(text)
    except Exception as exc:  # the code under test may be mid-rewrite: count it, go on
        errors.append(f"{case_id}: {what} raised {type(exc).__name__}: {exc}")
        return None


def found_spans(linter: Linter, text: str, errors: list[str], case_id: str) -> list[Span] | None:
    violations = _guard(linter.lint, text, errors, "lint", case_id)
    if violations is None:
        return None
    return [Span(v.start, v.end, v.rule, text[v.start:v.end]) for v in violations]


def over_counted(found: list[Span]) -> list[tuple[Span, Span]]:
    """(earlier, later) pairs where a later found violation lies on characters an earlier one covers."""
    pairs: list[tuple[Span, Span]] = []
    ordered = sorted(found, key=lambda s: (s.start, s.end, s.rule))
    for j, later in enumerate(ordered):
        for earlier in ordered[:j]:
            if earlier.start < later.end and later.start < earlier.end:
                pairs.append((earlier, later))
                break
    return pairs


def words(normalize: Callable[[str], str], text: str) -> list[str]:
    return normalize(text).split()


def evaluate(cases: list[Case], linter: Linter, canon: Canonicaliser, normalizer: Normalizer) -> dict[str, Any]:
    """Every figure, with the per-case details the verbose listing prints."""
    per_rule: dict[str, RuleCount] = {}
    misses: list[tuple[str, Span]] = []
    false_alarms: list[tuple[str, Span]] = []
    overcount: list[tuple[str, Span, Span]] = []
    dirty_clean: list[tuple[str, list[Span]]] = []
    inexact: list[tuple[str, str, str]] = []
    meaning_changed: list[tuple[str, list[str], list[str]]] = []
    lost_flags: list[tuple[str, str, list[str]]] = []
    normaliser_misses: list[tuple[str, list[str], list[str]]] = []
    errors: list[str] = []
    n_canonical = n_exact = n_null = n_clean = 0

    for case in cases:
        found = found_spans(linter, case.text, errors, case.id) or []
        for span in case.expected:
            count = per_rule.setdefault(span.rule, RuleCount())
            count.expected += 1
            if any(f.rule == span.rule and f.overlaps(span) for f in found):
                count.matched_expected += 1
            else:
                misses.append((case.id, span))
        for f in found:
            count = per_rule.setdefault(f.rule, RuleCount())
            count.found += 1
            if any(e.rule == f.rule and e.overlaps(f) for e in case.expected):
                count.matched_found += 1
            else:
                false_alarms.append((case.id, f))
        overcount.extend((case.id, a, b) for a, b in over_counted(found))
        if not case.expected:
            n_clean += 1
            if found:
                dirty_clean.append((case.id, found))

        fixed = _guard(canon.canonicalise, case.text, errors, "canonicalise", case.id)
        if case.canonical is not None:
            n_canonical += 1
            if fixed == case.canonical:
                n_exact += 1
            elif fixed is not None:
                inexact.append((case.id, fixed, case.canonical))
            if fixed is not None:
                got = _guard(lambda t: words(normalizer, t), fixed, errors, "normalise(fix)", case.id)
                heard = _guard(lambda t: words(normalizer, t), case.meaning, errors, "normalise(meaning)", case.id)
                if got is not None and heard is not None and got != heard:
                    meaning_changed.append((case.id, got, heard))
        else:
            n_null += 1
            keep = {s.rule for s in case.expected} & UNFIXABLE or set(UNFIXABLE)
            if fixed is not None:
                after = found_spans(linter, fixed, errors, case.id)
                if after is not None and not any(s.rule in keep for s in after):
                    lost_flags.append((case.id, fixed, sorted(keep)))

        as_typed = _guard(lambda t: words(normalizer, t), case.text, errors, "normalise(text)", case.id)
        heard = _guard(lambda t: words(normalizer, t), case.meaning, errors, "normalise(meaning)", case.id)
        if as_typed is None or heard is None or as_typed != heard:
            normaliser_misses.append((case.id, as_typed or [], heard or []))

    total = RuleCount()
    for count in per_rule.values():
        total.add(count)
    pair_counts = Counter(" + ".join(sorted((a.rule, b.rule))) for _, a, b in overcount)
    return {
        "cases": len(cases),
        "lint": {"overall": total.figures(), "per_rule": {r: per_rule[r].figures() for r in sorted(per_rule)}},
        "over_counting": {"reports": len(overcount), "cases": len({cid for cid, _, _ in overcount}),
                          "rule_pairs": dict(pair_counts.most_common())},
        "clean": {"cases": n_clean, "with_violations": len(dirty_clean)},
        "fix": {"with_canonical": n_canonical, "exact": n_exact, "meaning_changed": len(meaning_changed),
                "null_canonical": n_null, "null_canonical_unflagged": len(lost_flags)},
        "normaliser": {"cases": len(cases), "text_equals_meaning": len(cases) - len(normaliser_misses)},
        "errors": errors,
        "_details": {"misses": misses, "false_alarms": false_alarms, "overcount": overcount,
                     "dirty_clean": dirty_clean, "inexact": inexact, "meaning_changed": meaning_changed,
                     "lost_flags": lost_flags, "normaliser_misses": normaliser_misses},
    }


# ---------------------------------------------------------------------------------------------------- report


def _of(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else f"{part}/0"


def _rows(per_rule: dict[str, dict[str, Any]], overall: dict[str, Any]) -> Iterable[str]:
    yield f"{'rule':<20} {'expected':>8} {'found':>6} {'matched':>7} {'precision':>9} {'recall':>7}"
    for rule, f in [*per_rule.items(), ("all", overall)]:
        p = _pct(f["precision"])
        r = _pct(f["recall"])
        yield f"{rule:<20} {f['expected']:>8} {f['found']:>6} {f['matched']:>7} {p:>9} {r:>7}"


def report(figures: dict[str, Any], spec_label: str, verbose: bool) -> None:
    details = figures["_details"]
    lint = figures["lint"]
    print(f"convention {spec_label}: {figures['cases']} cases")
    print()
    print("lint (a found violation matches an expected one: same rule, overlapping spans)")
    for row in _rows(lint["per_rule"], lint["overall"]):
        print("  " + row)
    if verbose:
        for title, items in (("misses (expected, not found)", details["misses"]),
                             ("false alarms (found, not expected)", details["false_alarms"])):
            print(f"  {title}: {len(items)}")
            for case_id, span in items:
                print(f"    {case_id:<5} {span.rule:<20} {span.text!r}")
    print()
    over = figures["over_counting"]
    print(f"over-counting: {over['reports']} found violations on characters already reported "
          f"(in {over['cases']} cases)")
    for pair, n in over["rule_pairs"].items():
        print(f"  {n:>4}  {pair}")
    if verbose:
        for case_id, a, b in details["overcount"]:
            print(f"    {case_id:<5} {a.rule} {a.text!r} / {b.rule} {b.text!r}")
    clean = figures["clean"]
    print(f"clean cases with any violation: {_of(clean['with_violations'], clean['cases'])}")
    if verbose:
        for case_id, found in details["dirty_clean"]:
            print(f"    {case_id:<5} " + ", ".join(f"{s.rule} {s.text!r}" for s in found))
    print()
    fix = figures["fix"]
    print(f"fix exact (canonicalise(text) == canonical): {_of(fix['exact'], fix['with_canonical'])}")
    if verbose:
        for case_id, got, want in details["inexact"]:
            print(f"    {case_id:<5} got  {got!r}\n          want {want!r}")
    print(f"fix changed meaning (normalised words of fix != of meaning): "
          f"{_of(fix['meaning_changed'], fix['with_canonical'])}")
    if verbose:
        for case_id, got, heard in details["meaning_changed"]:
            print(f"    {case_id:<5} fix   {' '.join(got)!r}\n          heard {' '.join(heard)!r}")
    print(f"null-canonical cases fix left unflagged (no {'/'.join(sorted(UNFIXABLE))}): "
          f"{_of(fix['null_canonical_unflagged'], fix['null_canonical'])}")
    if verbose:
        for case_id, fixed, keep in details["lost_flags"]:
            print(f"    {case_id:<5} {fixed!r} (expected {', '.join(keep)})")
    norm = figures["normaliser"]
    print(f"normaliser (Normalizer(text) == Normalizer(meaning)): {_of(norm['text_equals_meaning'], norm['cases'])}")
    if verbose:
        for case_id, got, heard in details["normaliser_misses"]:
            print(f"    {case_id:<5} text    {' '.join(got)!r}\n          meaning {' '.join(heard)!r}")
    if figures["errors"]:
        print()
        print(f"errors raised by the code under test: {len(figures['errors'])}")
        for line in figures["errors"] if verbose else figures["errors"][:5]:
            print(f"  {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="cases JSONL (default: %(default)s)")
    parser.add_argument("--spec", type=Path, default=None, help="convention spec YAML (default: the package's)")
    parser.add_argument("--verbose", "-v", action="store_true", help="list misses, false alarms and bad fixes")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args()

    try:
        spec = load_spec(args.spec)
        cases = load_cases(args.cases)
    except (OSError, ValueError, LabelingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    label = str(getattr(spec, "label", args.spec or "default"))
    figures = evaluate(cases, Linter(spec), Canonicaliser(spec), Normalizer(spec))
    report(figures, label, args.verbose)
    if args.json is not None:
        out = {k: v for k, v in figures.items() if k != "_details"}
        out["spec"] = label
        out["cases_file"] = str(args.cases)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
