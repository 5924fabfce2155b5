"""Linter, canonicaliser and normaliser: exact expectations, and the other policies of the spec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling import Canonicaliser, Linter, Normalizer, load_spec, parse_spec
from labeling._numbers import digits_to_words, parse_number_words

SPEC = load_spec()


def rules(text: str) -> list[tuple[str, str, str | None]]:
    return [(text[v.start:v.end], v.rule, v.fix) for v in Linter(SPEC).lint(text)]


def test_lint_reports_span_rule_severity_and_fix() -> None:
    violations = Linter(SPEC).lint("Um, todays weather")
    assert [(v.start, v.end, v.rule, v.severity, v.fix) for v in violations] == [
        (0, 2, "casing", "error", "um"),
        (2, 3, "punctuation", "error", ""),
    ]
    assert Linter(SPEC).lint("um todays weather") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("umm yes", [("umm", "filler-spelling", "um")]),
        ("[Noise] yes", [("[Noise]", "tag-form", "[noise]")]),
        ("(laughs)", [("(laughs)", "tag-form", "[laugh]")]),
        ("[dog] yes", [("[dog]", "tag-unknown", None)]),  # an event the list lacks: the annotator chooses
        ("wor~ word", [("wor~", "partial-word", "wor-")]),
        ("25 cats", [("25", "numbers", "twenty five")]),
        ("it's ok", [("ok", "spelling", "okay")]),
        ("well-known", [("well-known", "compound-hyphen", "well known")]),
        ("café", [("café", "characters", "cafe")]),
        ("it\u2019s", [("it\u2019s", "characters", "it's")]),
        ("a  b", [("  ", "whitespace", " ")]),
        (" a", [(" ", "whitespace", "")]),
        ("[noise]a", [("", "whitespace", " ")]),
        ("a,b", [(",", "punctuation", " ")]),
        ("rock & roll", [("&", "characters", "and")]),
        ("[cough] [cough]", []),  # two coughs: two tags
    ],
)
def test_each_builtin_rule(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert rules(text) == expected


def test_canonicalise_examples() -> None:
    canon = Canonicaliser(SPEC)
    assert canon.canonicalise("Uhm... I paid $5 for 2 tickets (laughs)") == \
        "um i paid five dollars for two tickets [laugh]"
    assert canon.canonicalise("") == ""
    assert canon.canonicalise("  ,,, ") == ""


def test_normaliser_drops_fillers_tags_partials() -> None:
    normalizer = Normalizer()  # default spec
    assert normalizer.normalize("Um, [noise] the wor- WORD is well-known.") == "the word is well known"
    assert normalizer("I paid $25") == "i paid twenty five dollars"


_TAGGED = """format: 1
convention: {name: tagged, version: '1'}
fillers: {policy: tag, canonical: {um: [umm, erm]}}
tags: {open: '<', close: '>', allowed: [noise]}
numbers: {style: digits}
casing: preserve
characters: {allowed: "A-Za-z0-9'."}
punctuation: {keep: ['.', ',']}
compound_hyphens: keep
partial_words: {policy: omit}
"""


def test_other_policies() -> None:
    spec = parse_spec(_TAGGED)
    canon = Canonicaliser(spec)
    assert canon.canonicalise("Umm, I saw twenty five [noise] well-known wor- dogs .") == \
        "<um>, I saw 25 <noise> well-known dogs."
    assert Linter(spec).lint("<um>, I saw 25 <noise> well-known dogs.") == []
    omit = parse_spec("format: 1\nconvention: {name: o, version: '1'}\nfillers: {policy: omit, canonical: {um: []}}\n")
    assert Canonicaliser(omit).canonicalise("um hello ummm") == "hello"


@settings(max_examples=200)
@given(st.text(alphabet="Uum erI25,.-[]<>noise twentyfive", max_size=40))
def test_other_policies_idempotent_and_clean(text: str) -> None:
    spec = parse_spec(_TAGGED)
    canon, linter = Canonicaliser(spec), Linter(spec)
    once = canon.canonicalise(text)
    assert canon.canonicalise(once) == once
    assert [v for v in linter.lint(once) if v.fix is not None] == []


@pytest.mark.parametrize(
    ("digits", "words"),
    [("25", "twenty five"), ("1,000", "one thousand"), ("3.5", "three point five"), ("21st", "twenty first"),
     ("50%", "fifty percent"), ("1984", "nineteen eighty four"), ("2005", "two thousand five"),
     ("007", "zero zero seven"), ("1205", "twelve oh five"), ("12th", "twelfth"), ("1000000", "one million"),
     ("0001,000", "zero zero zero one zero zero zero")],  # a leading zero and a group comma (found by hypothesis)
)
def test_digits_to_words(digits: str, words: str) -> None:
    assert digits_to_words(digits) == words


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_number_words_round_trip(n: int) -> None:
    words = digits_to_words(str(n))
    assert words is not None
    assert parse_number_words(words.split()) == (n, len(words.split()))


def test_regex_rules_that_fight_are_reported() -> None:
    spec = parse_spec("format: 1\nconvention: {name: f, version: '1'}\nrules:\n"
                      "  - {id: a, pattern: 'cat', replace: 'dog'}\n  - {id: b, pattern: 'dog', replace: 'cat'}\n")
    from labeling import CanonicalisationError
    with pytest.raises(CanonicalisationError, match="rule 'a' still changes"):
        Canonicaliser(spec).canonicalise("cat")
    loop = parse_spec("format: 1\nconvention: {name: f, version: '1'}\nrules:\n"
                      "  - {id: grow, pattern: 'a$', replace: 'aa'}\n")
    with pytest.raises(CanonicalisationError, match="no fixed point"):
        Canonicaliser(loop).canonicalise("a")


# -- meaning: what fix must not change, and what it must leave to the annotator (convention 2.0.0) --------

@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("oh no, not again", "oh no not again"),  # "oh" is a word, not a filler
        ("Oh my gosh, really?", "oh my gosh really"),
        ("the code is six oh four", "the code is six oh four"),
        ("that's cold, eh?", "that's cold eh"),  # a tag question, not "uh"
        ("I'm gonna grab a coffee", "i'm gonna grab a coffee"),  # full verbatim: said "gonna"
        ("back in the '70s", "back in the seventies"),
        ("the 1960s were wild", "the nineteen sixties were wild"),
        ("at 6:15 p.m.", "at six fifteen pm"),
        ("Interviewer: so what happened\nGuest: we lost it", "so what happened we lost it"),
        ("I think it was ((Gloria)) who called", "i think it was gloria who called"),
        ("she said xx and left", "she said [unintelligible] and left"),
        ("*phone rings* hello?", "*phone rings* hello"),  # unknown event: kept for the annotator
        ("*laughs* no way", "[laugh] no way"),
        ("Dr. Patel will see you", "doctor patel will see you"),
        ("the N.H.S. waiting list", "the nhs waiting list"),
        ("it costs $40", "it costs forty dollars"),
        ("it cost $2 billion", "it cost two billion dollars"),
        ("pay $12.99 today", "pay $12.99 today"),  # cents: the annotator writes how it was said
        ("gate 12, flight 4417", "gate twelve flight 4417"),
        ("dial 1-800-555-0199", "dial 1-800-555-0199"),
        ("in 2021 we moved", "in 2021 we moved"),
        ("in 2003 we moved", "in two thousand three we moved"),
        ("room 300", "room three hundred"),
        ("mm, let me think", "hmm let me think"),
        ("9am", "nine am"),
    ],
)
def test_fix_keeps_the_meaning(text: str, fixed: str) -> None:
    assert Canonicaliser(SPEC).canonicalise(text) == fixed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Umm", [("Umm", "filler-spelling", "um")]),  # once, not also casing
        ("$40", [("$40", "dollar-amount", "forty dollars")]),  # once, not also characters and numbers
        ("Mr. Lee", [("Mr.", "spelling", "mister"), ("Lee", "casing", "lee")]),
        ("call 617-555-0147", [("617-555-0147", "digit-string", None)]),
        ("the 737 max", [("737", "digit-string", None)]),
        ("zip 02139", [("02139", "digit-string", None)]),
        ("at 10:00", [("10:00", "digit-string", None)]),
        ("$4.99", [("$4.99", "dollars-and-cents", None)]),
        ("[speaker 1] hi", [("[speaker 1]", "speaker-label", "")]),
        ("S2: right", [("S2:", "speaker-label", "")]),
        ("[tuesday?] maybe", [("[tuesday?]", "uncertain-word", "tuesday")]),
        ("(( )) okay", [("(( ))", "uncertain-word", "[unintelligible]")]),
        ("[inaudible 00:03:12] yes", [("[inaudible 00:03:12]", "tag-form", "[unintelligible]")]),
        ("", [("", "empty-transcript", None)]),
        ("   ", [("   ", "empty-transcript", None)]),
    ],
)
def test_each_span_once_under_its_most_specific_rule(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert rules(text) == expected


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("nine oh two one oh", "90210"),  # a zip code said with "oh"s against the model's digits
        ("I'm gonna go", "I'm going to go"),
        ("at 10:00", "at ten"),
        ("in twenty nineteen", "in 2019"),
        ("call five five five oh one four seven", "call 555-0147"),
    ],
)
def test_the_normaliser_reads_the_same_words_alike(reference: str, hypothesis: str) -> None:
    normalise = Normalizer(SPEC)
    assert normalise(reference) == normalise(hypothesis)


def test_clean_verbatim_writes_reductions_out_and_leaves_fillers_out() -> None:
    spec = parse_spec("format: 1\nconvention: {name: c, version: '1'}\nverbatim: clean\n"
                      "reductions: {gonna: going to}\nfillers: {canonical: {um: [umm]}}\n")
    assert Canonicaliser(spec).canonicalise("umm I'm gonna go wi- with them") == "i'm going to go with them"
    assert [v.rule for v in Linter(spec).lint("gonna")] == ["reduction"]
