"""The canary's guards: is the canary worse than the primary on the same traffic, beyond chance?

Each side keeps its last `window` outcomes of routed requests (a result, or an error). Every guard
compares the canary's figure with the primary's over those windows, and fails only when the canary is
worse by more than `z` standard errors of the difference (and by more than a small practical floor):
two windows of the same model differ by chance, and a guard that fires on chance rolls back healthy
releases. A guard has no verdict until both sides have `min_requests` outcomes.

- `error_rate`: share of requests the model failed (an exception, not an overload refusal);
- `null_rate`: share of clips the model answered with no text (NO_SPEECH or a suppressed
  hallucination; clips skipped before the model, too quiet or empty, say nothing about it);
- `over_budget`: share of answers slower than the budget; fails only while the canary's p95 is
  also past the budget ("p95 latency against the budget"), so that a canary that is a little slower
  but inside the budget is not rolled back;
- `mean_confidence`: the canary's mean confidence on clips with text, lower than the primary's.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from asr_service.recognizer import NullReason, RecognitionResult

__all__ = ["GUARDS", "GuardOptions", "GuardReading", "SideWindow", "judge"]

GUARDS = ("error_rate", "null_rate", "over_budget", "mean_confidence")
_MODEL_NULLS = (NullReason.NO_SPEECH, NullReason.HALLUCINATION_SUPPRESSED)


@dataclass(frozen=True, kw_only=True)
class GuardOptions:
    """How sure the guards must be before they roll a canary back."""

    window: int  # outcomes per side compared
    min_requests: int  # outcomes per side before any verdict
    z: float  # standard errors of the difference a canary must be worse by
    share_floor: float = 0.02  # ... and at least this much worse on a share
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
           ) -> GuardReading:
    """A share that must not be higher on the canary: one-sided, against the primary's Jeffreys estimate."""
    if not enough or n_c == 0 or n_p == 0:
        return GuardReading(name=name, canary=hits_c / n_c if n_c else None, primary=hits_p / n_p if n_p else None,
                            limit=None, canary_n=n_c, primary_n=n_p, verdict="no data")
    share_p = (hits_p + 0.5) / (n_p + 1)  # Jeffreys: a primary with no errors yet still has a spread
    limit = share_p + max(options.z * math.sqrt(share_p * (1 - share_p) * (1 / n_c + 1 / n_p)), options.share_floor)
    share_c = hits_c / n_c
    return GuardReading(name=name, canary=share_c, primary=hits_p / n_p, limit=limit, canary_n=n_c, primary_n=n_p,
                        verdict="fail" if share_c > limit else "pass")


def _over_budget(c: dict[str, Any], p: dict[str, Any], options: GuardOptions, enough: bool) -> GuardReading:
    reading = _share("over_budget", c["over_budget"], c["answered"], p["over_budget"], p["answered"], options, enough)
    if reading.verdict == "fail" and (c["p95_ms"] is None or c["p95_ms"] <= c["budget_ms"]):
        return GuardReading(**{**reading.__dict__, "verdict": "pass"})  # slower, but its p95 is inside the budget
    return reading


def _confidence(c: dict[str, Any], p: dict[str, Any], options: GuardOptions, enough: bool) -> GuardReading:
    """Mean confidence on clips with text must not be lower on the canary (Welch's standard error)."""
    n_c, n_p = c["texts"], p["texts"]
    mean_c, mean_p = c["mean_confidence"], p["mean_confidence"]
    if not enough or n_c < 2 or n_p < 2 or mean_c is None or mean_p is None:
        return GuardReading(name="mean_confidence", canary=mean_c, primary=mean_p, limit=None, canary_n=n_c,
                            primary_n=n_p, verdict="no data")
    error = math.sqrt(c["sd_confidence"] ** 2 / n_c + p["sd_confidence"] ** 2 / n_p)
    limit = mean_p - max(options.z * error, options.confidence_floor)
    return GuardReading(name="mean_confidence", canary=mean_c, primary=mean_p, limit=limit, canary_n=n_c,
                        primary_n=n_p, verdict="fail" if mean_c < limit else "pass")
