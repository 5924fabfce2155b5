"""Bootstrap confidence intervals for error rates, and the paired bootstrap for comparing two systems.

Both resample *utterances* with replacement (seeded, `DEFAULT_RESAMPLES` = 1000 by default), and
recompute the corpus-level rate of each resample: sum of errors / sum of reference tokens. Intervals are
percentile intervals (2.5th and 97.5th percentiles for 95 %). Resamples whose reference is empty (only
possible when some utterances normalise to nothing) are left out of the percentiles.

The paired bootstrap (Koehn 2004) draws the *same* utterances for both systems in each resample, so the
difference is measured on equal footing; the share of resamples in which the candidate's rate is higher
than the baseline's is `PairedBootstrap.share_worse`. The candidate is *significantly worse* when that
share is at least the confidence level (e.g. 0.95), *significantly better* when the share in which it
is lower is; a one-sided p-value for "worse" is ``1 - share_worse``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "MIN_UTTERANCES_FOR_VERDICT",
    "Interval",
    "PairedBootstrap",
    "bootstrap_rate",
    "paired_bootstrap",
]

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
# The paired bootstrap's verdict is unreliable on few utterances: on one, every resample is that
# utterance, so any difference is called "worse" or "better" (-100 % "better" on n = 1). Measured with
# bench/bench_gate.py slices (two real runs on the shared speech, 5000 slices per size, no true
# difference): two equally good systems that differ on most utterances got a false verdict in 100 % of
# slices of 1 (with a difference), 22-31 % of 2-3, 14-16 % of 5-7, 14.7 % of 8 and 12-14 % from 10 to 30
# (the percentile bootstrap's plateau; nominal 10 %). From 8 on it stays within 1.5x nominal (<= 15 %).
MIN_UTTERANCES_FOR_VERDICT = 8
_CHUNK_CELLS = 2_000_000  # resamples x utterances drawn at once, to bound memory on large sets


@dataclass(frozen=True, kw_only=True)
class Interval:
    """A two-sided confidence interval."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        """low <= value <= high (with a little float slack)."""
        return self.low - 1e-12 <= value <= self.high + 1e-12

    @property
    def width(self) -> float:
        """high - low."""
        return self.high - self.low


@dataclass(frozen=True, kw_only=True)
class PairedBootstrap:
    """Candidate minus baseline, on the same resampled utterances."""

    delta: float  # candidate rate - baseline rate on all shared utterances
    interval: Interval  # of the delta
    share_worse: float  # resamples where the candidate's rate is higher
    share_better: float  # resamples where it is lower
    confidence: float

    @property
    def verdict(self) -> str:
        """'worse', 'better' or 'no significant difference' at the confidence level."""
        if self.share_worse >= self.confidence:
            return "worse"
        if self.share_better >= self.confidence:
            return "better"
        return "no significant difference"

    @property
    def p_worse(self) -> float:
        """One-sided p-value of "the candidate is worse": 1 - share_worse."""
        return 1.0 - self.share_worse


def _as_array(values: Sequence[float] | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def _resampled_sums(
    columns: Sequence[npt.NDArray[np.float64]], resamples: int, seed: int
) -> list[npt.NDArray[np.float64]]:
    """For each column, its sum over each of `resamples` draws of the same utterance indices."""
    n = columns[0].shape[0]
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_CELLS // max(n, 1))
    sums: list[list[npt.NDArray[np.float64]]] = [[] for _ in columns]
    for done in range(0, resamples, step):
        idx = rng.integers(0, n, size=(min(step, resamples - done), n))
        for out, col in zip(sums, columns, strict=True):
            out.append(col[idx].sum(axis=1))
    return [np.concatenate(parts) for parts in sums]


def _percentiles(values: npt.NDArray[np.float64], confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return Interval(low=float(low), high=float(high))


def bootstrap_rate(
    errors: Sequence[float] | npt.NDArray[np.float64],
    reference_lengths: Sequence[float] | npt.NDArray[np.float64],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> Interval | None:
    """Percentile interval of sum(errors)/sum(reference_lengths) over utterance resamples; None if undefined."""
    err, ref = _as_array(errors), _as_array(reference_lengths)
    if err.shape != ref.shape or err.ndim != 1:
        raise ValueError("errors and reference_lengths must be 1-D and of the same length")
    if err.size == 0 or ref.sum() <= 0:
        return None
    err_sums, ref_sums = _resampled_sums([err, ref], resamples, seed)
    ok = ref_sums > 0
    return _percentiles(err_sums[ok] / ref_sums[ok], confidence)


def paired_bootstrap(
    baseline_errors: Sequence[float] | npt.NDArray[np.float64],
    candidate_errors: Sequence[float] | npt.NDArray[np.float64],
    reference_lengths: Sequence[float] | npt.NDArray[np.float64],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> PairedBootstrap | None:
    """Paired bootstrap of candidate rate - baseline rate over the same utterances; None if undefined."""
    base, cand, ref = _as_array(baseline_errors), _as_array(candidate_errors), _as_array(reference_lengths)
    if not (base.shape == cand.shape == ref.shape) or ref.ndim != 1:
        raise ValueError("the error and reference arrays must be 1-D and of the same length")
    if ref.size == 0 or ref.sum() <= 0:
        return None
    base_sums, cand_sums, ref_sums = _resampled_sums([base, cand, ref], resamples, seed)
    ok = ref_sums > 0
    deltas = (cand_sums[ok] - base_sums[ok]) / ref_sums[ok]
    return PairedBootstrap(
        delta=float((cand.sum() - base.sum()) / ref.sum()),
        interval=_percentiles(deltas, confidence),
        share_worse=float(np.mean(deltas > 0)),
        share_better=float(np.mean(deltas < 0)),
        confidence=confidence,
    )
