"""Which results `sampling_reason` keeps, and why."""

from __future__ import annotations

import random

from asr_service.config import RequestLogOptions
from asr_service.request_log import sampling_reason


def test_nulls_and_low_confidence_are_always_kept_and_say_why() -> None:
    options = RequestLogOptions(sample_below_confidence=0.42, sample_share=0.0)
    rng = random.Random(0)
    assert sampling_reason(options, confidence=0.0, has_text=False, rng=rng) == "null"
    assert sampling_reason(options, confidence=0.41, has_text=True, rng=rng) == "low_confidence"
    assert sampling_reason(options, confidence=0.42, has_text=True, rng=rng) is None
    assert sampling_reason(options, confidence=0.99, has_text=True, rng=rng) is None


def test_without_sample_nulls_an_empty_result_is_only_kept_by_chance() -> None:
    options = RequestLogOptions(sample_nulls=False, sample_share=0.0)
    assert sampling_reason(options, confidence=0.0, has_text=False, rng=random.Random(0)) is None
    always = RequestLogOptions(sample_nulls=False, sample_share=1.0)
    assert sampling_reason(always, confidence=0.0, has_text=False, rng=random.Random(0)) == "random"


def test_the_random_share_keeps_about_that_share_of_ordinary_results() -> None:
    options = RequestLogOptions(sample_share=0.05)
    rng = random.Random(1234)
    kept = [sampling_reason(options, confidence=0.9, has_text=True, rng=rng) for _ in range(20_000)]
    assert set(kept) == {None, "random"}
    assert 0.045 < kept.count("random") / len(kept) < 0.055


def test_the_generator_is_drawn_only_for_the_random_share() -> None:
    # Reproducible choices: a null or low-confidence result does not move the seeded sequence.
    options = RequestLogOptions(sample_share=0.5)
    a, b = random.Random(7), random.Random(7)
    sampling_reason(options, confidence=0.0, has_text=False, rng=a)
    sampling_reason(options, confidence=0.1, has_text=True, rng=a)
    assert a.random() == b.random()
