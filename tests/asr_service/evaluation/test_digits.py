"""Digits in scoring: spoken and written numbers must score alike on both sides.

Whisper's English normaliser joins a reference's spoken digits into one number ("four five zero" ->
"450") but leaves a hypothesis's written digits apart ("4 5 0"), so the shared speech's digit strings
scored 300-700 % WER with it. The default normaliser (``whisper-digits``) reads every number in digits
digit by digit after Whisper's normaliser, on both sides.
"""

from __future__ import annotations

import pytest

from asr_service.evaluation import get_normalizer, score, split_digits
from asr_service.evaluation.normalizers import DEFAULT_NORMALIZER

# (reference as an annotator writes what was said, hypothesis as Whisper writes it)
SAME_WORDS = [
    pytest.param("one zero zero zero one nine oh two one oh zero one eight zero three", "1 0 0 0 1 90210 01803",
                 id="sphinx4-connected-digits"),  # the shared speech's own digit string and tiny.en's output
    pytest.param("one two three", "1. 2. 3.", id="counting"),
    pytest.param("my number is five five five one two three four five six seven", "My number is 555-123-4567.",
                 id="phone-number"),
    pytest.param("call one eight oh oh five five five oh one nine nine", "Call 1-800-555-0199.", id="toll-free"),
    pytest.param("my pin is four five oh nine", "My PIN is 4509.", id="pin-oh-for-zero"),
    pytest.param("the pin is zero zero seven two", "The PIN is 0072.", id="pin-leading-zeros"),
    pytest.param("PIN 4 5 0 9", "pin four five zero nine", id="pin-written-in-the-reference"),
    pytest.param("agent double oh seven", "Agent 007.", id="double-oh-seven"),
    pytest.param("room double seven", "Room 77.", id="double-seven"),
    pytest.param("it was built in nineteen ninety nine", "It was built in 1999.", id="year"),
    pytest.param("in the year two thousand and five", "In the year 2005,", id="year-two-thousand"),
    pytest.param("it costs twelve dollars and fifty cents", "It costs $12.50.", id="amount"),
    pytest.param("four hundred fifty people", "450 people", id="cardinal"),
    pytest.param("five five", "55", id="spoken-digits-as-a-number"),
    pytest.param("the meeting is at four thirty", "The meeting is at 4:30.", id="time"),
    pytest.param("flight one one two", "Flight 112", id="flight"),
]


@pytest.mark.parametrize(("reference", "hypothesis"), SAME_WORDS)
def test_default_normalizer_scores_spoken_and_written_numbers_alike(reference: str, hypothesis: str) -> None:
    norm = get_normalizer(DEFAULT_NORMALIZER)
    assert score(norm(reference), norm(hypothesis)).words.errors == 0, (norm(reference), norm(hypothesis))


def test_plain_whisper_normalizer_reproduces_the_digit_blow_up() -> None:
    # the bug the default fixes: one 15-digit reference word against 7 hypothesis words is 700 % WER
    whisper = get_normalizer("whisper")
    ref, hyp = whisper(SAME_WORDS[0].values[0]), whisper(SAME_WORDS[0].values[1])
    assert ref == "100019021001803" and hyp == "one 0 0 0 one 90210 1803"
    words = score(ref, hyp).words
    assert words.reference_length == 1 and words.errors == 7
    assert score(whisper("my pin is four five oh nine"), whisper("My PIN is 4 5 0 9.")).words.errors == 4


def test_a_wrong_digit_is_one_error_among_as_many_words_as_digits() -> None:
    norm = get_normalizer(DEFAULT_NORMALIZER)
    ref, hyp = norm("my number is five five five one two three four five six seven"), norm("my number is 555-123-4568")
    words = score(ref, hyp).words
    assert (words.reference_length, words.substitutions, words.errors) == (13, 1, 1)
    # a missing digit of a PIN is one deletion, not a different number
    words = score(norm("four five oh nine"), norm("459")).words
    assert (words.reference_length, words.deletions, words.errors) == (4, 1, 1)


def test_words_without_digits_are_left_as_whisper_writes_them() -> None:
    whisper, default = get_normalizer("whisper"), get_normalizer(DEFAULT_NORMALIZER)
    for text in ("Mr. Smith isn't here, um, today.", "The one and only colour.", "one of them",
                 "It cost $3.05, 50% off, on the 20th.", "Platforms one and three are used."):
        assert default(text) == whisper(text), text
    assert default("Platforms one and 3.") == "platforms one and 3"  # a lone "one" stays a word


@pytest.mark.parametrize("name", ["whisper", "whisper-digits"])
def test_a_trailing_ellipsis_is_no_word(name: str) -> None:
    # Whisper's normaliser turns "..." into a lone "."; clips often end so ("So tonight...").
    normalize = get_normalizer(name)
    assert normalize("No...") == "no"
    assert normalize("Um...") == ""
    assert normalize("So tonight... When you taste it...") == "so tonight when you taste it"
    assert score(normalize("no"), normalize("No...")).words.errors == 0
    assert normalize("It cost $3.05, 50% off.") == "it cost $3.05 50% off"  # symbols inside words stay


def test_split_digits_reads_numbers_digit_by_digit_and_one_inside_a_run_as_1() -> None:
    assert split_digits(["in", "1999"]) == ["in", "1", "9", "9", "9"]
    assert split_digits(["one", "0", "0", "one", "90210"]) == ["1", "0", "0", "1", "9", "0", "2", "1", "0"]
    assert split_digits(["one", "one"]) == ["1", "1"]
    assert split_digits(["the", "one", "and", "only"]) == ["the", "one", "and", "only"]
    assert split_digits(["$12.50", "20th", "50%", "1960s"]) == ["$12.50", "20th", "50%", "1960s"]


def test_normalizer_names() -> None:
    assert DEFAULT_NORMALIZER == "whisper-digits"
    with pytest.raises(ValueError, match="known: convention, none, whisper, whisper-digits"):
        get_normalizer("digits")
