"""Alarms: thresholds over rolling windows, firing and clearing with hysteresis and a hold time.

An alarm FIRES when its value crosses `fire_at` (above it, or below it for `direction="below"`)
and CLEARS only once the value is back past `clear_at`, which lies on the safe side of `fire_at`:
a value hovering at the threshold does not flap. A change of state also waits until its condition
has held for the board's `hold_s`. An alarm with a `Margin` has limits that depend on how many values
the window holds: the baseline's own figure plus `z` standard errors of the difference between a
window of n values and the baseline's (a window of 20 clips needs a wider margin than one of 500).

A reading of None (too few results in the window, no traffic) puts the alarm in the NO DATA state: not
firing, shown as such, with the gauge `asr_alarm_no_data{alarm}` at 1. Every transition is one log
line; the state is the gauge `asr_alarm_active{alarm}` and the JSON of `GET /api/alarms`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Gauge

from asr_service.monitoring._metrics import MODEL_LABELS

__all__ = ["AlarmBoard", "AlarmRule", "AlarmState", "Margin", "Reading"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Margin:
    """How far a window's share or mean may stray from the baseline's, in standard errors.

    `spread` is the standard deviation of one value (sqrt(p (1 - p)) for a share p), `reference_n` the
    number of values behind the baseline's figure (inf for a figure taken as exact). The limit of a
    window of n values lies `z` standard errors of the difference, spread x sqrt(1/n + 1/reference_n),
    past the baseline: `fire_z` to fire, `clear_z` (nearer) to clear.
    """

    spread: float
    fire_z: float
    clear_z: float
    reference_n: float = math.inf

    def __post_init__(self) -> None:
        if not (self.spread >= 0 and 0 <= self.clear_z <= self.fire_z and self.reference_n > 0):
            raise ValueError(f"margin: spread {self.spread} >= 0, 0 <= clear_z {self.clear_z} <= fire_z "
                             f"{self.fire_z}, reference_n {self.reference_n} > 0")

    def standard_error(self, n: int) -> float:
        """Standard error of the difference between a window of `n` values and the baseline."""
        return self.spread * math.sqrt(1.0 / max(n, 1) + 1.0 / self.reference_n)


@dataclass(frozen=True, kw_only=True)
class AlarmRule:
    """One alarm: its name, what it watches, and its two thresholds (plus a margin that shrinks with n)."""

    name: str
    description: str
    direction: Literal["above", "below"]
    fire_at: float
    clear_at: float
    unit: str = ""
    margin: Margin | None = None

    def __post_init__(self) -> None:
        safe = self.clear_at <= self.fire_at if self.direction == "above" else self.clear_at >= self.fire_at
        if not safe:
            raise ValueError(f"alarm {self.name}: clear_at {self.clear_at} is not on the safe side of {self.fire_at}")

    def limits(self, count: int, reference: tuple[float, int] | None = None) -> tuple[float, float]:
        """(fire, clear) thresholds for a window of `count` values; a share rule with a `reference` (share,
        values) is judged against that instead of its own `fire_at` (e.g. the same server's earlier traffic)."""
        if self.margin is None:
            return self.fire_at, self.clear_at
        fire_at, clear_at, margin = self.fire_at, self.clear_at, self.margin
        if reference is not None:
            share, n = reference
            p = (share * n + 0.5) / (n + 1)  # Jeffreys: a reference without a single hit still allows a few
            fire_at = clear_at = p
            margin = Margin(spread=math.sqrt(p * (1 - p)), fire_z=margin.fire_z, clear_z=margin.clear_z,
                            reference_n=max(n, 1))
        sign = 1.0 if self.direction == "above" else -1.0
        se = margin.standard_error(count)
        return fire_at + sign * margin.fire_z * se, clear_at + sign * margin.clear_z * se

    def fires(self, value: float, count: int = 0, reference: tuple[float, int] | None = None) -> bool:
        """True when `value` crosses the firing threshold."""
        fire, _ = self.limits(count, reference)
        return value > fire if self.direction == "above" else value < fire

    def clears(self, value: float, count: int = 0, reference: tuple[float, int] | None = None) -> bool:
        """True when `value` is back past the clearing threshold."""
        _, clear = self.limits(count, reference)
        return value < clear if self.direction == "above" else value > clear


@dataclass(frozen=True)
class Reading:
    """An alarm's input: the window's value, how many values it is made of (for margins), and for a rule
    judged against earlier traffic, that traffic's (share, values)."""

    value: float
    count: int = 0
    reference: tuple[float, int] | None = None


@dataclass(frozen=True, kw_only=True)
class AlarmState:
    """An alarm's state after the last evaluation."""

    rule: AlarmRule
    active: bool
    value: float | None
    since_s: float | None  # unix time of the last transition; None before any
    detail: str = ""
    count: int = 0
    no_data: bool = True  # no reading yet, or the last one had too few values
    pending_since_s: float | None = None  # the condition for a change has held since then (hold time)
    reference: tuple[float, int] | None = None  # what the limits were relative to, when not the rule's own

    @property
    def status(self) -> Literal["firing", "ok", "no_data"]:
        """What to show."""
        return "firing" if self.active else "no_data" if self.no_data else "ok"

    def to_json(self) -> dict[str, Any]:
        """As `GET /api/alarms` gives it (`fire_at`/`clear_at`: the limits for this window's count)."""
        value = None if self.value is None or math.isnan(self.value) else round(self.value, 6)
        fire, clear = self.rule.limits(self.count, self.reference)
        return {
            "alarm": self.rule.name,
            "active": self.active,
            "status": self.status,
            "value": value,
            "count": self.count,
            "direction": self.rule.direction,
            "fire_at": round(fire, 6),
            "clear_at": round(clear, 6),
            "unit": self.rule.unit,
            "since": self.since_s,
            "pending_since": self.pending_since_s,
            "reference": None if self.reference is None else {"share": round(self.reference[0], 6),
                                                               "count": self.reference[1]},
            "description": self.rule.description,
            "detail": self.detail,
        }


class AlarmBoard:
    """The states of a set of alarms, updated by `evaluate()` on the monitor's timer. Thread-safe reads."""

    def __init__(
        self,
        rules: Iterable[AlarmRule],
        registry: CollectorRegistry,
        *,
        model_labels: Callable[[], tuple[str, str]],
        clock: Callable[[], float] = time.time,
        hold_s: float = 0.0,
        history: int = 200,
    ) -> None:
        self._clock = clock
        self._labels = model_labels
        self._hold_s = hold_s
        self._lock = threading.Lock()
        self._states: dict[str, AlarmState] = {}
        self._gauge_labels: tuple[str, str] | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=history)
        self._gauge = Gauge("asr_alarm_active", "1 while the alarm fires.", ("alarm", *MODEL_LABELS),
                            registry=registry)
        self._no_data = Gauge("asr_alarm_no_data", "1 while the alarm has too little data for a verdict.",
                              ("alarm", *MODEL_LABELS), registry=registry)
        for rule in rules:
            self.add_rule(rule)

    def add_rule(self, rule: AlarmRule) -> None:
        """Watch one more alarm (NO DATA until evaluated)."""
        with self._lock:
            if rule.name in self._states:
                raise ValueError(f"alarm {rule.name}: defined twice")
            self._states[rule.name] = AlarmState(rule=rule, active=False, value=None, since_s=None)

    def evaluate(self, values: Mapping[str, Reading | None], details: Mapping[str, str] | None = None) -> list[str]:
        """Update every alarm named in `values`; returns the names that fired or cleared (the changes to and
        from NO DATA show in `states()`)."""
        now = self._clock()
        changed = []
        with self._lock:
            labels = self._labels()
            if labels != self._gauge_labels:  # the model loaded or changed: no stale series
                self._gauge.clear()
                self._no_data.clear()
                self._gauge_labels = labels
            for name, reading in values.items():
                state = self._states[name]
                new = self._next(state, reading, (details or {}).get(name, ""), now)
                if new.status != state.status:
                    self._log(state, new, now)
                if new.active != state.active:
                    changed.append(name)
                self._states[name] = new
                if labels[0]:  # no series until a model is loaded: every asr_ series names its model version
                    self._gauge.labels(name, *labels).set(1.0 if new.active else 0.0)
                    self._no_data.labels(name, *labels).set(1.0 if new.no_data else 0.0)
        return changed

    def _next(self, state: AlarmState, reading: Reading | None, detail: str, now: float) -> AlarmState:
        rule = state.rule
        if reading is None or math.isnan(reading.value):
            since = state.since_s if state.no_data else now
            return AlarmState(rule=rule, active=False, value=None, since_s=since, detail=detail, no_data=True)
        value, count, reference = reading.value, reading.count, reading.reference
        want = not rule.clears(value, count, reference) if state.active else rule.fires(value, count, reference)
        active, since, pending = state.active, state.since_s, None
        if want != state.active:
            pending = state.pending_since_s if state.pending_since_s is not None else now
            if now - pending >= self._hold_s:
                active, pending = want, None
        if active != state.active or state.no_data:
            since = now
        return AlarmState(rule=rule, active=active, value=value, since_s=since, detail=detail, count=count,
                          no_data=False, pending_since_s=pending, reference=reference)

    def _log(self, old: AlarmState, state: AlarmState, now: float) -> None:
        """One line per firing and clearing (WARNING, INFO); a firing alarm that loses its data says so (INFO);
        the quiet changes between ok and NO DATA only at DEBUG."""
        rule = state.rule
        detail = f" ({state.detail})" if state.detail else ""
        if state.no_data or (old.no_data and not state.active):
            if old.active:
                logger.info("alarm %s: no data, was firing%s", rule.name, detail)
            else:
                logger.debug("alarm %s: %s%s", rule.name, state.status, detail)
                return
        else:
            fire, clear = rule.limits(state.count, state.reference)
            bound = fire if state.active else clear
            above = rule.direction == "above"
            sign = (">" if above else "<") if state.active else ("<" if above else ">")
            log = logger.warning if state.active else logger.info
            log("alarm %s %s: %s = %.4g %s %.4g%s%s", rule.name, "FIRING" if state.active else "cleared",
                rule.description, state.value, sign, bound, f" {rule.unit}" if rule.unit else "", detail)
        self.events.append({"t": now, "alarm": rule.name, "active": state.active, "status": state.status,
                            "value": state.value})

    def states(self) -> list[AlarmState]:
        """Every alarm's state, in definition order."""
        with self._lock:
            return list(self._states.values())

    def active(self) -> list[str]:
        """Names of the alarms that fire now."""
        return [s.rule.name for s in self.states() if s.active]

    def to_json(self) -> dict[str, Any]:
        """`GET /api/alarms`: active names, every state, recent transitions."""
        states = self.states()
        with self._lock:
            events = list(self.events)
        return {"active": [s.rule.name for s in states if s.active],
                "no_data": [s.rule.name for s in states if s.no_data],
                "alarms": [s.to_json() for s in states], "events": events}
