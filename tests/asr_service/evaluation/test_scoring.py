"""WER/CER counts and the word alignment, against cases counted by hand."""

from __future__ import annotations

import pytest

from asr_service.evaluation import ErrorCounts, format_alignment, get_normalizer, score
from asr_service.evaluation.scoring import substitution_pairs


def test_substitution_deletion_insertion_counted_by_hand() -> None:
    # ref: the cat sat on the mat  (6 words)
    # hyp: the cat sit on     mat  -> sat->sit (S), "the" deleted (D), 4 hits
    s = score("the cat sat on the mat", "the cat sit on mat")
    assert (s.words.substitutions, s.words.deletions, s.words.insertions, s.words.hits) == (1, 1, 0, 4)
    assert s.words.rate == pytest.approx(2 / 6)
    assert [(w.op, w.ref, w.hyp) for w in s.alignment] == [
        ("equal", "the", "the"), ("equal", "cat", "cat"), ("substitute", "sat", "sit"),
        ("equal", "on", "on"), ("delete", "the", None), ("equal", "mat", "mat"),
    ]


def test_insertions_can_push_wer_past_one() -> None:
    s = score("yes", "yes yes yes")
    assert (s.words.hits, s.words.insertions, s.words.errors) == (1, 2, 2)
    assert s.words.rate == pytest.approx(2.0)


def test_empty_hypothesis_is_all_deletions_and_empty_reference_has_no_rate() -> None:
    s = score("go forward ten meters", "")
    assert (s.words.deletions, s.words.errors, s.words.rate) == (4, 4, 1.0)
    empty = score("", "noise")
    assert empty.words.insertions == 1
    assert empty.words.rate is None
    both = score("", "")
    assert both.words == ErrorCounts() and both.chars == ErrorCounts()


def test_cer_counts_characters_with_spaces() -> None:
    # "abc d" -> "abd d": one substitution (c->d) over 5 reference characters
    s = score("abc d", "abd d")
    assert (s.chars.substitutions, s.chars.deletions, s.chars.insertions, s.chars.reference_length) == (1, 0, 0, 5)
    assert s.chars.rate == pytest.approx(0.2)
    # "kitten" -> "sitting": 2 substitutions and 1 insertion, the textbook Levenshtein case
    k = score("kitten", "sitting")
    assert (k.chars.substitutions, k.chars.insertions, k.chars.deletions) == (2, 1, 0)
    assert k.chars.rate == pytest.approx(3 / 6)


def test_corpus_wer_is_total_errors_over_total_words_not_mean_of_rates() -> None:
    a = score("one two three four five six seven eight nine ten", "one two three four five six seven eight nine ten")
    b = score("hello", "goodbye")
    total = ErrorCounts.total([a.words, b.words])
    assert total.rate == pytest.approx(1 / 11)  # a mean of per-utterance rates would say 0.5
    assert total.reference_length == 11


def test_format_alignment_marks_and_columns() -> None:
    ref, hyp, marks = format_alignment(score("the cat sat on the mat", "the bat sat the mat now").alignment)
    assert ref.split() == ["the", "CAT", "sat", "ON", "the", "mat", "***"]
    assert hyp.split() == ["the", "BAT", "sat", "**", "the", "mat", "NOW"]
    assert marks.split() == ["S", "D", "I"]
    assert len(ref) == len(hyp)  # columns line up
    assert ref.index("CAT") == hyp.index("BAT") == marks.index("S")


def test_substitution_pairs_are_counted_across_utterances() -> None:
    alignments = [score("a cat", "a bat").alignment, score("cat cat", "bat cat").alignment]
    assert substitution_pairs(alignments).most_common(1) == [(("cat", "bat"), 2)]


def test_whisper_normalizer_then_scoring_ignores_case_punctuation_and_fillers() -> None:
    norm = get_normalizer("whisper")
    ref, hyp = norm("Um, Mr. Smith paid 20 dollars!"), norm("mister smith paid $20")
    assert score(ref, hyp).words.errors == 0
    assert get_normalizer("none")("  Hello,   World ") == "Hello, World"
    with pytest.raises(ValueError, match="unknown 'nope'"):
        get_normalizer("nope")


def test_convention_normalizer_scores_spelling_variants_as_equal_but_keeps_words() -> None:
    norm = get_normalizer("convention")
    assert norm("Umm, today's weather is 25 degrees.") == norm("um today\u2019s weather is twenty five degrees")
    assert score(norm("today's weather"), norm("today's whether")).words.errors == 1
