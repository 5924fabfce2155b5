"""Drift: a sliding window of live clips against a baseline profile, three tests per feature.

Tests (scipy), each with its documented default threshold:

- ``ks``: two-sample Kolmogorov-Smirnov p-value; flags when p < `ks_p_max` (0.001).
- ``wasserstein``: Wasserstein distance divided by the baseline's standard deviation (Evidently's
  normalised Wasserstein); flags at >= `wasserstein_min` (0.3).
- ``psi``: population stability index over `psi_bins` (10) bins at the baseline's deciles; flags at
  >= `psi_min` (0.3).

Why stricter than Evidently's defaults (KS p < 0.05, Wasserstein >= 0.1, PSI >= 0.2): the window is
re-tested every few seconds (many tests), clips of one speaker or device arrive together (the KS
p-value assumes independent clips), and a dev-set baseline is small (tens to hundreds of clips).
On ../shared/data/speech, two halves of the same clips differ by up to ~0.2 normalised Wasserstein;
bench/bench_drift.py measured 0 false verdicts in 1000 evaluations with these defaults; -30 dB, VAD
padding and 10 dB noise caught in 45-200 clips, pitch x1.2 in 200 (median; 9 of 10 runs) (docs/monitoring.md).

For the null rate (a proportion), ``binomial`` (p-value of the live count under the baseline rate,
flags when p < `ks_p_max`) and ``psi`` over the two categories.

A feature is DRIFTED when at least `votes_required` (2) of its tests flag. The drift alarm of a
feature (`drift_<feature>`) watches the number of flagging tests: it fires at `votes_required`
and clears only when no test flags (hysteresis). No verdict while the window has fewer than
`min_clips` values of that feature.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from asr_service.monitoring._features import NUMERIC_FEATURES, ClipFeatures

__all__ = ["DriftMonitor", "DriftOptions", "FeatureDrift", "psi", "run_tests"]

FloatArray = npt.NDArray[np.float64]
_PSI_FLOOR = 1e-4  # empty bins would make the index infinite


@dataclass(frozen=True, kw_only=True)
class DriftOptions:
    """Thresholds and windows of the drift tests (defaults documented in the module docstring)."""

    window_clips: int = 200
    min_clips: int = 100
    ks_p_max: float = 0.001
    wasserstein_min: float = 0.3
    psi_min: float = 0.3
    psi_bins: int = 10
    votes_required: int = 2
    features: tuple[str, ...] = (*NUMERIC_FEATURES, "null_rate")


@dataclass(frozen=True, kw_only=True)
class FeatureDrift:
    """The verdict on one feature's live window."""

    feature: str
    clips: int
    scores: Mapping[str, float]  # test -> score (p-value for ks/binomial, distance or index otherwise)
    flags: Mapping[str, bool]
    live_mean: float
    baseline_mean: float

    @property
    def votes(self) -> int:
        """How many tests flag."""
        return sum(self.flags.values())

    def to_json(self, votes_required: int) -> dict[str, Any]:
        """As `GET /api/drift` gives it."""
        return {"feature": self.feature, "clips": self.clips, "scores": dict(self.scores),
                "flags": dict(self.flags), "votes": self.votes, "drifted": self.votes >= votes_required,
                "live_mean": self.live_mean, "baseline_mean": self.baseline_mean}


def psi(reference: FloatArray, current: FloatArray, bins: int = 10) -> float:
    """Population stability index of `current` against `reference`, bins at the reference's quantiles."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1) / reference.size
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1) / current.size
    return _psi_of(ref, cur)


def _psi_of(ref_p: FloatArray, cur_p: FloatArray) -> float:
    """PSI of two distributions over the same bins (empty bins floored so the log stays finite)."""
    ref_p, cur_p = np.maximum(ref_p, _PSI_FLOOR), np.maximum(cur_p, _PSI_FLOOR)
    return float(np.sum((cur_p - ref_p) * np.log(cur_p / ref_p)))


@cache
def _stats() -> Any:  # scipy has no type hints
    """scipy.stats, loaded by the first test (~0.5 s): a server without a drift baseline never needs it."""
    from scipy import stats  # type: ignore[import-untyped]

    return stats


def run_tests(reference: FloatArray, current: FloatArray, options: DriftOptions) -> dict[str, float]:
    """ks p-value, normalised Wasserstein distance and PSI of `current` against `reference`."""
    scale = float(np.std(reference))
    if scale <= 0:
        scale = max(abs(float(np.mean(reference))), 1e-9)
    stats = _stats()
    return {
        "ks": float(stats.ks_2samp(reference, current).pvalue),
        "wasserstein": float(stats.wasserstein_distance(reference, current)) / scale,
        "psi": psi(reference, current, options.psi_bins),
    }


def _flags(scores: Mapping[str, float], options: DriftOptions) -> dict[str, bool]:
    limits = {"ks": lambda v: v < options.ks_p_max, "binomial": lambda v: v < options.ks_p_max,
              "wasserstein": lambda v: v >= options.wasserstein_min, "psi": lambda v: v >= options.psi_min}
    return {test: bool(limits[test](score)) for test, score in scores.items()}


class DriftMonitor:
    """Live windows of clip features, tested against a baseline's reference values.

    `reference` maps a numeric feature to its baseline values; `baseline_null_rate` is None when the
    baseline was built without a model. `observe()` is O(1); `evaluate()` runs the tests (timer).
    """

    def __init__(
        self,
        reference: Mapping[str, Sequence[float]],
        baseline_null_rate: float | None,
        options: DriftOptions | None = None,
    ) -> None:
        self.options = options or DriftOptions()
        self._reference = {
            name: np.asarray(values, dtype=np.float64)
            for name, values in reference.items()
            if name in self.options.features and len(values) >= 2
        }
        self._null_rate = baseline_null_rate
        names = list(self._reference)
        if baseline_null_rate is not None and "null_rate" in self.options.features:
            names.append("null_rate")
        self.features = tuple(names)
        self._windows = {name: deque[float](maxlen=self.options.window_clips) for name in self.features}
        self._lock = threading.Lock()

    def observe(self, features: ClipFeatures) -> None:
        """Add one clip to the live windows."""
        with self._lock:
            for name, value in features.numeric().items():
                window = self._windows.get(name)
                if window is not None and value is not None:
                    window.append(value)
            nulls = self._windows.get("null_rate")
            if nulls is not None and features.is_null is not None:
                nulls.append(1.0 if features.is_null else 0.0)

    def reset(self) -> None:
        """Forget the live windows."""
        with self._lock:
            for window in self._windows.values():
                window.clear()

    def evaluate(self) -> list[FeatureDrift]:
        """The verdict on every feature with at least `min_clips` live values."""
        with self._lock:
            current = {name: np.fromiter(w, dtype=np.float64) for name, w in self._windows.items()}
        out = []
        for name, values in current.items():
            if values.size < self.options.min_clips:
                continue
            if name == "null_rate":
                scores, base_mean = self._null_scores(values), float(self._null_rate or 0.0)
            else:
                scores, base_mean = run_tests(self._reference[name], values, self.options), float(
                    np.mean(self._reference[name]))
            out.append(FeatureDrift(feature=name, clips=int(values.size), scores=scores,
                                    flags=_flags(scores, self.options), live_mean=float(np.mean(values)),
                                    baseline_mean=base_mean))
        return out

    def _null_scores(self, values: FloatArray) -> dict[str, float]:
        base = min(max(float(self._null_rate or 0.0), 0.005), 0.995)
        nulls = int(values.sum())
        live = nulls / values.size
        return {
            "binomial": float(_stats().binomtest(nulls, int(values.size), base).pvalue),
            "psi": _psi_of(np.array([base, 1 - base]), np.array([live, 1 - live])),
        }

    def summary_of(self, name: str) -> dict[str, float]:
        """Baseline quantiles of a numeric feature (p10, p50, p90, mean), for the dashboard."""
        ref = self._reference.get(name)
        if ref is None:
            return {}
        p10, p50, p90 = (float(v) for v in np.quantile(ref, [0.1, 0.5, 0.9]))
        return {"p10": p10, "p50": p50, "p90": p90, "mean": float(np.mean(ref))}

