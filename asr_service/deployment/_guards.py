"""The canary's guards: is the canary worse than the primary on the same traffic, beyond chance?

Each side keeps its last `window` outcomes of routed requests (a result, or an error). Every guard
compares the canary's figure with the primary's over those windows, and fails only when the canary is
worse beyond chance (and by more than a small practical floor): two windows of the same model differ
by chance, and a guard that fires on chance rolls back healthy releases. A guard has no verdict until
both sides have `min_requests` outcomes.

How sure is "beyond chance" is `z`, as the one-sided tail of a standard normal (3.5: p < 0.00023).
Shares are judged with Fisher's exact test (one-sided: is the canary's share higher?), not a normal
approximation: the shares watched are rare events (a null rate near 2 %, errors near 0), and on 30
canary answers the normal approximation rolled back 7 healthy canaries in 100 on the report split
(bench/bench_rollout.py). The mean confidence uses Welch's t test (the t distribution, not the normal:
on 30 values its tail is heavier, and the normal one rolled back 1 healthy canary in 100 on the tune
split).

- `error_rate`: share of requests the model failed (an exception, not an overload refusal);
- `null_rate`: share of clips the model answered with no text (NO_SPEECH or a suppressed
  hallucination; clips skipped before the model, too quiet or empty, say nothing about it);
- `over_budget`: share of answers slower than the budget; fails only while the canary's p95 is
  also past the budget ("p95 latency against the budget"), and by at least `latency_floor` (5 points:
  the share a p95 target allows over the budget), so that a canary a little slower than a primary
  near its budget is not rolled back;
- `mean_confidence`: the canary's mean confidence on clips with text, lower than the primary's.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from asr_service.recognizer import NullReason, RecognitionResult

__all__ = ["GUARDS", "GuardOptions", "GuardReading", "SideWindow", "judge", "prepare"]

GUARDS = ("error_rate", "null_rate", "over_budget", "mean_confidence")
_MODEL_NULLS = (NullReason.NO_SPEECH, NullReason.HALLUCINATION_SUPPRESSED)


@dataclass(frozen=True, kw_only=True)
class GuardOptions:
    """How sure the guards must be before they roll a canary back."""

    window: int  # outcomes per side compared
    min_requests: int  # outcomes per side before any verdict
    z: float  # standard errors of the difference a canary must be worse by
    share_floor: float = 0.02  # ... and at least this much worse on a share
    latency_floor: float = 0.05  # ... on the share over the budget: what a p95 target allows
    confidence_floor: float = 0.02  # ... and at least this much lower on mean confidence


@dataclass(frozen=True)
class _Outcome:
    error: bool
    null: bool  # the model answered with no text
    judged: bool  # the model ran (not skipped as empty or too quiet)
    total_ms: float
    budget_ms: float
    confidence: float | None  # None without text


class SideWindow:
    """The last outcomes of one side (canary or primary) of a rollout."""

    def __init__(self, size: int) -> None:
        self._outcomes: deque[_Outcome] = deque(maxlen=size)
        self.total = 0  # outcomes ever added (the window keeps the last `size`)

    def __len__(self) -> int:
        return len(self._outcomes)

    def add_result(self, result: RecognitionResult) -> None:
        """One answered request."""
        judged = result.null_reason not in (NullReason.EMPTY_AUDIO, NullReason.TOO_QUIET)
        self._add(_Outcome(error=False, null=result.null_reason in _MODEL_NULLS, judged=judged,
                           total_ms=result.latency.server_total_ms, budget_ms=result.latency.budget_ms,
                           confidence=result.confidence if result.text else None))

    def add_error(self) -> None:
        """One request the model failed."""
        self._add(_Outcome(error=True, null=False, judged=False, total_ms=math.nan, budget_ms=math.nan,
                           confidence=None))

    def _add(self, outcome: _Outcome) -> None:
        self._outcomes.append(outcome)
        self.total += 1

    def figures(self) -> dict[str, Any]:
        """Counts and figures of the window (for the guards and the state)."""
        outcomes = list(self._outcomes)
        answered = [o for o in outcomes if not o.error]
        judged = [o for o in answered if o.judged]
        latencies = np.array([o.total_ms for o in answered], dtype=np.float64)
        confidences = np.array([o.confidence for o in judged if o.confidence is not None], dtype=np.float64)
        return {
            "requests": len(outcomes),
            "errors": sum(o.error for o in outcomes),
            "judged": len(judged),
            "nulls": sum(o.null for o in judged),
            "answered": len(answered),
            "over_budget": sum(o.total_ms > o.budget_ms for o in answered),
            "p95_ms": float(np.percentile(latencies, 95)) if latencies.size else None,
            "budget_ms": answered[0].budget_ms if answered else None,
            "texts": int(confidences.size),
            "mean_confidence": float(confidences.mean()) if confidences.size else None,
            "sd_confidence": float(confidences.std(ddof=1)) if confidences.size > 1 else None,
        }


@dataclass(frozen=True, kw_only=True)
class GuardReading:
    """One guard's comparison: the two figures, the limit the canary's may reach, and the verdict."""

    name: str
    canary: float | None
    primary: float | None
    limit: float | None
    canary_n: int
    primary_n: int
    verdict: str  # "pass", "fail" or "no data"

    def to_json(self) -> dict[str, Any]:
        """As the deployment state shows it."""
        return {"name": self.name, "canary": self.canary, "primary": self.primary, "limit": self.limit,
                "canary_n": self.canary_n, "primary_n": self.primary_n, "verdict": self.verdict}

    def describe(self) -> str:
        """One line for the log and the rollback reason."""
        if self.canary is None or self.primary is None or self.limit is None:
            return f"{self.name}: no data"
        return (f"{self.name} {self.canary:.3g} on the canary ({self.canary_n}) vs {self.primary:.3g} on the primary "
                f"({self.primary_n}), limit {self.limit:.3g}")


def judge(canary: SideWindow, primary: SideWindow, options: GuardOptions) -> list[GuardReading]:
    """Every guard's reading for the two windows."""
    c, p = canary.figures(), primary.figures()
    enough = c["requests"] >= options.min_requests and p["requests"] >= options.min_requests
    readings = [
        _share("error_rate", c["errors"], c["requests"], p["errors"], p["requests"], options, enough),
        _share("null_rate", c["nulls"], c["judged"], p["nulls"], p["judged"], options, enough),
        _over_budget(c, p, options, enough),
        _confidence(c, p, options, enough),
    ]
    return readings


def _share(name: str, hits_c: int, n_c: int, hits_p: int, n_p: int, options: GuardOptions, enough: bool,
           floor: float | None = None) -> GuardReading:
    """A share that must not be higher on the canary. `limit` is the highest canary share that passes with
    these counts: the largest that Fisher's one-sided test does not find higher at `z`'s level, and at least
    the primary's share plus the floor."""
    if not enough or n_c == 0 or n_p == 0:
        return GuardReading(name=name, canary=hits_c / n_c if n_c else None, primary=hits_p / n_p if n_p else None,
                            limit=None, canary_n=n_c, primary_n=n_p, verdict="no data")
    stats = _stats()
    alpha = float(stats.norm.sf(options.z))

    def higher(hits: int) -> bool:
        table = [[hits, n_c - hits], [hits_p, n_p - hits_p]]
        return bool(stats.fisher_exact(table, alternative="greater").pvalue < alpha)

    low, high = 0, n_c + 1  # the fewest canary hits the test calls higher: in (low, high], n_c + 1 for none
    # (no hits are ever "higher": 0 stays below)
    while high - low > 1:  # the p-value falls as the canary's hits rise: a binary search, ~9 tests
        middle = (low + high) // 2
        if higher(middle):
            high = middle
        else:
            low = middle
    share_p = hits_p / n_p
    limit = max((high - 1) / n_c, share_p + (options.share_floor if floor is None else floor))
    share_c = hits_c / n_c
    return GuardReading(name=name, canary=share_c, primary=share_p, limit=limit, canary_n=n_c, primary_n=n_p,
                        verdict="fail" if share_c > limit else "pass")


def _over_budget(c: dict[str, Any], p: dict[str, Any], options: GuardOptions, enough: bool) -> GuardReading:
    reading = _share("over_budget", c["over_budget"], c["answered"], p["over_budget"], p["answered"], options, enough,
                     floor=options.latency_floor)
    if reading.verdict == "fail" and (c["p95_ms"] is None or c["p95_ms"] <= c["budget_ms"]):
        return GuardReading(**{**reading.__dict__, "verdict": "pass"})  # slower, but its p95 is inside the budget
    return reading


def _confidence(c: dict[str, Any], p: dict[str, Any], options: GuardOptions, enough: bool) -> GuardReading:
    """Mean confidence on clips with text must not be lower on the canary (Welch's t test, one-sided)."""
    n_c, n_p = c["texts"], p["texts"]
    mean_c, mean_p = c["mean_confidence"], p["mean_confidence"]
    if not enough or n_c < 2 or n_p < 2 or mean_c is None or mean_p is None:
        return GuardReading(name="mean_confidence", canary=mean_c, primary=mean_p, limit=None, canary_n=n_c,
                            primary_n=n_p, verdict="no data")
    var_c, var_p = c["sd_confidence"] ** 2 / n_c, p["sd_confidence"] ** 2 / n_p
    error = math.sqrt(var_c + var_p)
    # Welch-Satterthwaite degrees of freedom (two identical constant windows: no spread, any df will do)
    df = (var_c + var_p) ** 2 / (var_c**2 / (n_c - 1) + var_p**2 / (n_p - 1)) if error > 0 else float(n_c + n_p - 2)
    stats = _stats()
    critical = float(stats.t.isf(stats.norm.sf(options.z), df))
    limit = mean_p - max(critical * error, options.confidence_floor)
    return GuardReading(name="mean_confidence", canary=mean_c, primary=mean_p, limit=limit, canary_n=n_c,
                        primary_n=n_p, verdict="fail" if mean_c < limit else "pass")


def prepare() -> None:
    """Load what the guards compute with (scipy.stats, ~0.6 s), from a thread that may wait: the first look
    happens on the server's event loop, mid-traffic, where that import would hold every request."""
    _stats()


@functools.cache
def _stats() -> Any:  # scipy has no type hints
    """scipy.stats, loaded at the guards' first look (~0.5 s): a server that never runs a canary never needs it."""
    return importlib.import_module("scipy.stats")
