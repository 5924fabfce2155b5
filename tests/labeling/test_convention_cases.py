"""The hand-written transcripts of bench/data/convention_cases.jsonl as a regression check: fix gives
each case's canonical form, and what fix cannot know stays flagged (bench/bench_conventions.py measures
precision and recall on them and on the held-out set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labeling import Canonicaliser, Linter, load_spec

CASES = Path(__file__).resolve().parents[2] / "bench" / "data" / "convention_cases.jsonl"
SPEC = load_spec()
UNFIXABLE = {"digit-string", "dollars-and-cents", "tag-unknown", "empty-transcript"}


def _cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: str(c["id"]))
def test_fix_gives_the_canonical_form_or_leaves_it_flagged(case: dict[str, Any]) -> None:
    fixed = Canonicaliser(SPEC).canonicalise(case["text"])
    if case["canonical"] is not None:
        assert fixed == case["canonical"]
        assert Linter(SPEC).lint(fixed) == []
    else:
        assert {v.rule for v in Linter(SPEC).lint(fixed)} & UNFIXABLE
    # the rules named (how often is the bench's business: it matches spans)
    assert {v.rule for v in Linter(SPEC).lint(case["text"])} == {v["rule"] for v in case["violations"]}
