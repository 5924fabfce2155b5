"""Property tests of the linter and canonicaliser under the default spec."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from labeling import Canonicaliser, Linter, Normalizer, load_spec

SPEC = load_spec()
CANON = Canonicaliser(SPEC)
LINTER = Linter(SPEC)
NORMALIZER = Normalizer(SPEC)

_PIECES = [
    "um", "Umm", "UHM", "uh", "er", "hmmmm", "mm-hmm", "today's", "today\u2019s", "weather", "Weather", "I",
    "[noise]", "[Noise]", "{laugh}", "(laughs)", "<cough>", "[foo]", "%uh", "[um]", "25", "1,000", "3.5",
    "21st", "1984", "50%", "$5", "mp3", "wor-", "wor~", "wor—", "well-known", "OK", "alright", "gonna", "café",
    ",", ".", "...", "?", "!", '"', "'", "&", "-", "--", "@", "#", "[?]", "naïve", "ﬁne", "x", "hello,world",
]
_SPACES = [" ", "  ", "\t", "\n", "", " \u00a0"]

transcripts = st.lists(
    st.tuples(st.sampled_from(_PIECES), st.sampled_from(_SPACES)), max_size=14
).map(lambda items: "".join(p + s for p, s in items))
any_text = st.text(max_size=60)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(transcripts, any_text))
def test_canonicalise_is_idempotent(text: str) -> None:
    once = CANON.canonicalise(text)
    assert CANON.canonicalise(once) == once


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(transcripts, any_text))
def test_canonical_output_lints_clean(text: str) -> None:
    # of every fixable rule: what is left needs a person (how digits were read, an unknown event, nothing)
    assert [v for v in LINTER.lint(CANON.canonicalise(text)) if v.fix is not None] == []


@settings(max_examples=300)
@given(transcripts)
def test_clean_lint_means_already_canonical(text: str) -> None:
    # "no fixable violation" and "fix changes nothing" agree.
    assert ([v for v in LINTER.lint(text) if v.fix is not None] == []) == (CANON.canonicalise(text) == text)


@settings(max_examples=300)
@given(st.one_of(transcripts, any_text))
def test_normaliser_output_is_plain_lowercase_words_and_stable(text: str) -> None:
    # What WER compares: lower-case words without punctuation, tags or filler spellings to disagree on,
    # and normalising again changes nothing.
    out = NORMALIZER.normalize(text)
    assert out == out.lower()
    words = [w for w in out.split() if not any(c.isdigit() for c in w)]  # a number it cannot read stays as is
    assert not set("".join(words)) & set(".,!?;:\"()[]{}<>")
    assert out == " ".join(out.split())
    assert NORMALIZER.normalize(out) == out


@settings(max_examples=300)
@given(transcripts)
@example("um1,0001,000 ")  # once crashed the number speller (a leading zero and a group comma)
def test_violation_spans_are_inside_the_text(text: str) -> None:
    for violation in LINTER.lint(text):
        assert 0 <= violation.start <= violation.end <= len(text)
        assert violation.rule and violation.severity in ("error", "warning", "info")


# Spelling and formatting variants of the same words: every member of a group must fix to one string.
_VARIANT_GROUPS = [
    ["um today's weather", "Um, today's weather", "umm  today\u2019s weather.", "UHM... Today's Weather!",
     "uhmm today's weather?", "ummmm, today's weather", " erm today's weather "],
    ["[laugh] okay", "(laughs) OK", "{laughter} ok.", "<Laughing> Okay!", "[LAUGH]  ok"],
    ["i paid twenty five dollars", "I paid $25", "i paid 25 dollars", "I paid twenty-five dollars."],
    ["uh it was nineteen eighty four", "Uh, it was 1984.", "uhh it was nineteen eighty-four", "%uh it was 1984"],
    ["mhm that's well known", "Mm-hmm, that's well-known.", "mmhmm that\u2019s well known"],
    ["the wor- word", "The wor— word", "the wor~ word", "the wor-  word"],
    ["all right [noise]", "Alright {noise}", "alright [Noise]", "All right... (static)"],
]


@pytest.mark.parametrize("group", _VARIANT_GROUPS, ids=lambda g: g[0])
def test_variant_groups_collapse_to_one_string(group: list[str]) -> None:
    fixed = {CANON.canonicalise(text) for text in group}
    assert fixed == {group[0]}


@settings(max_examples=200)
@given(st.sampled_from(_VARIANT_GROUPS), st.data())
def test_variants_joined_collapse(group: list[str], data: st.DataObject) -> None:
    # Any sequence of variants of a group fixes to the same string as the canonical members in sequence.
    picks = data.draw(st.lists(st.sampled_from(group), min_size=1, max_size=4))
    canonical = " ".join(group[0] for _ in picks)
    assert CANON.canonicalise(" ".join(picks)) == CANON.canonicalise(canonical)
