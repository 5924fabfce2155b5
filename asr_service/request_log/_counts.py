"""What happened to the rows handed to the request log, as plain counts and as Prometheus metrics.

A row either reaches the disk (``written``), is refused at `submit` (``dropped_queue_full``,
``dropped_degraded``), is dropped by the writer because logging became degraded after it was queued
(``dropped_degraded`` too), or fails to be written (``failed``). Every row `submit` accepted ends in
exactly one of them once the writer has stopped, so the counts add up to the rows submitted.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["OUTCOMES", "Counts"]

OUTCOMES = ("written", "dropped_queue_full", "dropped_degraded", "failed")


class Counts:
    """Thread-safe counts of outcomes, mirrored to `asr_request_log_*` metrics when a registry is given."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self.bytes = 0
        self._rows: dict[str, Counter] = {}
        self._bytes_gauge: Gauge | None = None
        self._degraded_gauge: Gauge | None = None
        if registry is not None:
            rows = Counter("asr_request_log_rows", "Rows handed to the request log, by what became of them.",
                           ["outcome"], registry=registry)
            self._rows = {outcome: rows.labels(outcome=outcome) for outcome in OUTCOMES}  # all shown, at 0
            self._bytes_gauge = Gauge("asr_request_log_bytes", "Bytes held by the request log store.",
                                      registry=registry)
            self._degraded_gauge = Gauge("asr_request_log_degraded",
                                         "1 while request logging is degraded (rows dropped), else 0.",
                                         registry=registry)

    def add(self, outcome: str, rows: int = 1) -> None:
        """Count `rows` rows under `outcome` (one of OUTCOMES)."""
        if rows <= 0:
            return
        with self._lock:
            self._counts[outcome] += rows
        if self._rows:
            self._rows[outcome].inc(rows)

    def set_bytes(self, size: int) -> None:
        """The store's size now."""
        self.bytes = max(0, size)
        if self._bytes_gauge is not None:
            self._bytes_gauge.set(self.bytes)

    def set_degraded(self, degraded: bool) -> None:
        """Whether logging is degraded now."""
        if self._degraded_gauge is not None:
            self._degraded_gauge.set(1 if degraded else 0)

    def snapshot(self) -> dict[str, Any]:
        """The counts: written, dropped (by reason), failed, bytes."""
        with self._lock:
            counts = dict(self._counts)
        return {
            "written": counts["written"],
            "dropped": {"queue_full": counts["dropped_queue_full"], "degraded": counts["dropped_degraded"]},
            "failed": counts["failed"],
            "bytes": self.bytes,
        }
