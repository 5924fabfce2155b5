"""Alarms: thresholds over rolling windows, firing and clearing with hysteresis.

An alarm FIRES when its value crosses `fire_at` (above it, or below it for `direction="below"`)
and CLEARS only once the value is back past `clear_at`, which lies on the safe side of `fire_at`:
a value hovering at the threshold does not flap. A value of None (too few results in the window)
leaves the state as it was. Every transition is one log line; the state is the gauge
`asr_alarm_active{alarm}` and the JSON of `GET /api/alarms`.
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

from asr_service.config import ServerConfig
from asr_service.monitoring._metrics import MODEL_LABELS

__all__ = ["AlarmBoard", "AlarmRule", "AlarmState", "default_rules"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AlarmRule:
    """One alarm: its name, what it watches, and its two thresholds."""

    name: str
    description: str
    direction: Literal["above", "below"]
    fire_at: float
    clear_at: float
    unit: str = ""

    def __post_init__(self) -> None:
        safe = self.clear_at <= self.fire_at if self.direction == "above" else self.clear_at >= self.fire_at
        if not safe:
            raise ValueError(f"alarm {self.name}: clear_at {self.clear_at} is not on the safe side of {self.fire_at}")

    def fires(self, value: float) -> bool:
        """True when `value` crosses the firing threshold."""
        return value > self.fire_at if self.direction == "above" else value < self.fire_at

    def clears(self, value: float) -> bool:
        """True when `value` is back past the clearing threshold."""
        return value < self.clear_at if self.direction == "above" else value > self.clear_at


@dataclass(frozen=True, kw_only=True)
class AlarmState:
    """An alarm's state after the last evaluation."""

    rule: AlarmRule
    active: bool
    value: float | None
    since_s: float | None  # unix time of the last transition; None before any
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """As `GET /api/alarms` gives it."""
        value = None if self.value is None or math.isnan(self.value) else round(self.value, 6)
        return {
            "alarm": self.rule.name,
            "active": self.active,
            "value": value,
            "direction": self.rule.direction,
            "fire_at": self.rule.fire_at,
            "clear_at": self.rule.clear_at,
            "unit": self.rule.unit,
            "since": self.since_s,
            "description": self.rule.description,
            "detail": self.detail,
        }


def default_rules(config: ServerConfig) -> list[AlarmRule]:
    """The alarms that the `[monitoring]` thresholds define (drift alarms are added by the drift monitor)."""
    m = config.monitoring
    keep = m.alarm_clear_ratio
    p95_max_ms = m.alarm_latency_p95_max_ms or config.budget_ms
    band = m.alarm_volume_hysteresis_db
    return [
        AlarmRule(name="null_rate", description="share of results without text", direction="above",
                  fire_at=m.alarm_null_rate_max, clear_at=m.alarm_null_rate_max * keep),
        AlarmRule(name="latency_p95", description="95th percentile of server time per clip", direction="above",
                  fire_at=p95_max_ms, clear_at=p95_max_ms * keep, unit="ms"),
        AlarmRule(name="input_volume_low", description="mean clip RMS level", direction="below",
                  fire_at=m.alarm_volume_min_dbfs, clear_at=m.alarm_volume_min_dbfs + band, unit="dBFS"),
        AlarmRule(name="input_volume_high", description="mean clip RMS level", direction="above",
                  fire_at=m.alarm_volume_max_dbfs, clear_at=m.alarm_volume_max_dbfs - band, unit="dBFS"),
        AlarmRule(name="server_load", description="host CPU busy share", direction="above",
                  fire_at=m.alarm_load_max, clear_at=m.alarm_load_max * keep),
        AlarmRule(name="empty_input", description="share of clips empty or below the volume floor",
                  direction="above", fire_at=m.alarm_empty_input_max, clear_at=m.alarm_empty_input_max * keep),
    ]


class AlarmBoard:
    """The states of a set of alarms, updated by `evaluate()` on the monitor's timer. Thread-safe reads."""

    def __init__(
        self,
        rules: Iterable[AlarmRule],
        registry: CollectorRegistry,
        *,
        model_labels: Callable[[], tuple[str, str]],
        clock: Callable[[], float] = time.time,
        history: int = 200,
    ) -> None:
        self._clock = clock
        self._labels = model_labels
        self._lock = threading.Lock()
        self._states: dict[str, AlarmState] = {}
        self._gauge_labels: tuple[str, str] | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=history)
        self._gauge = Gauge("asr_alarm_active", "1 while the alarm fires.", ("alarm", *MODEL_LABELS),
                            registry=registry)
        for rule in rules:
            self.add_rule(rule)

    def add_rule(self, rule: AlarmRule) -> None:
        """Watch one more alarm (inactive until evaluated)."""
        with self._lock:
            if rule.name in self._states:
                raise ValueError(f"alarm {rule.name}: defined twice")
            self._states[rule.name] = AlarmState(rule=rule, active=False, value=None, since_s=None)

    def evaluate(self, values: Mapping[str, float | None], details: Mapping[str, str] | None = None) -> list[str]:
        """Update every alarm named in `values`; returns the names that changed state."""
        now = self._clock()
        changed = []
        with self._lock:
            labels = self._labels()
            if labels != self._gauge_labels:  # the model loaded or changed: no stale series
                self._gauge.clear()
                self._gauge_labels = labels
            for name, value in values.items():
                state = self._states[name]
                detail = (details or {}).get(name, "")
                active = state.active
                if value is not None and not math.isnan(value):
                    active = not state.rule.clears(value) if state.active else state.rule.fires(value)
                since = state.since_s
                if active != state.active:
                    since = now
                    changed.append(name)
                    self._log(state.rule, active, value, detail, now)
                self._states[name] = AlarmState(rule=state.rule, active=active, value=value, since_s=since,
                                                detail=detail)
                if labels[0]:  # no series until a model is loaded: every asr_ series names its model version
                    self._gauge.labels(name, *labels).set(1.0 if active else 0.0)
        return changed

    def _log(self, rule: AlarmRule, active: bool, value: float | None, detail: str, now: float) -> None:
        what = "FIRING" if active else "cleared"
        bound = rule.fire_at if active else rule.clear_at
        sign = (">" if rule.direction == "above" else "<") if active else ("<" if rule.direction == "above" else ">")
        self.events.append({"t": now, "alarm": rule.name, "active": active, "value": value})
        log = logger.warning if active else logger.info
        log("alarm %s %s: %s = %.4g %s %.4g%s%s", rule.name, what, rule.description, value, sign, bound,
            f" {rule.unit}" if rule.unit else "", f" ({detail})" if detail else "")

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
        return {"active": [s.rule.name for s in states if s.active], "alarms": [s.to_json() for s in states],
                "events": events}
