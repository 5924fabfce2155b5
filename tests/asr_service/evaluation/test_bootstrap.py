"""Bootstrap intervals: they hold the point estimate, narrow with more data, and pair correctly."""

from __future__ import annotations

import numpy as np
import pytest

from asr_service.evaluation import bootstrap_rate, paired_bootstrap


def _corpus(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    words = rng.integers(5, 20, size=n)
    errors = rng.binomial(words, 0.12)
    return errors.astype(float), words.astype(float)


@pytest.mark.parametrize("n", [5, 40, 400])
def test_interval_contains_the_point_estimate(n: int) -> None:
    errors, words = _corpus(n, seed=n)
    ci = bootstrap_rate(errors, words)
    assert ci is not None
    assert ci.contains(errors.sum() / words.sum())
    assert 0.0 <= ci.low < ci.high


def test_interval_narrows_with_more_data() -> None:
    widths = []
    for n in (20, 200, 2000):
        errors, words = _corpus(n, seed=1)
        ci = bootstrap_rate(errors, words)
        assert ci is not None
        widths.append(ci.width)
    assert widths[0] > widths[1] > widths[2]
    assert widths[1] / widths[2] == pytest.approx(np.sqrt(10), rel=0.35)  # ~ 1/sqrt(n)


def test_seeded_and_undefined_cases() -> None:
    errors, words = _corpus(30, seed=3)
    assert bootstrap_rate(errors, words, seed=7) == bootstrap_rate(errors, words, seed=7)
    assert bootstrap_rate([], []) is None
    assert bootstrap_rate([1, 2], [0, 0]) is None  # no reference words at all
    one = bootstrap_rate([2], [10])
    assert one is not None and one.low == one.high == pytest.approx(0.2)  # one utterance: no spread
    with pytest.raises(ValueError, match="same length"):
        bootstrap_rate([1, 2], [3])


def test_paired_bootstrap_detects_a_consistently_worse_candidate() -> None:
    errors, words = _corpus(200, seed=5)
    worse = paired_bootstrap(errors, errors + 1, words)
    assert worse is not None
    assert worse.verdict == "worse" and worse.share_worse == 1.0 and worse.p_worse == 0.0
    assert worse.interval.contains(worse.delta) and worse.delta > 0
    better = paired_bootstrap(errors + 1, errors, words)
    assert better is not None and better.verdict == "better"
    same = paired_bootstrap(errors, errors, words)
    assert same is not None and same.verdict == "no significant difference" and same.delta == 0.0


def test_paired_bootstrap_calls_noise_not_significant() -> None:
    errors, words = _corpus(60, seed=8)
    base = errors + 1
    noise = np.random.default_rng(9).permutation(np.repeat([-1.0, 1.0], 30))  # sums to zero: no shift
    result = paired_bootstrap(base, base + noise, words)
    assert result is not None and result.delta == pytest.approx(0.0)
    assert result.verdict == "no significant difference"
    assert 0.05 < result.share_worse < 0.95
