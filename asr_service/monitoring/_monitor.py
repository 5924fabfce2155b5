"""The monitor of one server: metrics, recent windows, alarms and drift, updated on a timer.

`observe(result)` is the recognizer's observer (O(1): counters, histogram buckets, deque appends).
Everything that looks at a window (percentiles, means, drift tests, CPU load) runs in `tick()`,
every `[monitoring] interval_s`, in a worker thread so that the event loop never waits for scipy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector

from asr_service.auth import TokenFile
from asr_service.config import ServerConfig
from asr_service.cores import usable_cpu
from asr_service.monitoring._alarms import AlarmBoard, AlarmRule, Reading
from asr_service.monitoring._baseline import Baseline
from asr_service.monitoring._drift import DriftMonitor, DriftOptions, FeatureDrift
from asr_service.monitoring._features import features_of_result
from asr_service.monitoring._http import MonitoringHttpServer
from asr_service.monitoring._metrics import MODEL_LABELS, GaugeSources, ServerMetrics
from asr_service.monitoring._rules import FEEDBACK_ALARMS, alarm_rules
from asr_service.monitoring._summaries import RecentResults, WindowSummary
from asr_service.monitoring._system import (
    CpuLoad,
    read_proc_stat,
    read_process_cpu,
    resident_memory_bytes,
)
from asr_service.recognizer import RecognitionResult, Recognizer

if TYPE_CHECKING:
    from asr_service.deployment import AdminApi, Deployment

__all__ = ["Monitor"]

logger = logging.getLogger(__name__)


class Monitor:
    """Everything the server knows about its own health, for one server instance."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        baseline: Baseline | None = None,
        clock: Callable[[], float] = time.time,
        read_cpu: Callable[[], tuple[float, float]] | None = None,
        read_host_cpu: Callable[[], tuple[float, float]] = read_proc_stat,
    ) -> None:
        """`read_cpu` reads the server's (busy, total) CPU counters (default: this process on its usable
        cores), `read_host_cpu` the host's."""
        self.config = config
        settings = config.monitoring
        self.registry = CollectorRegistry(auto_describe=True)
        if baseline is None and settings.baseline_path:
            baseline = Baseline.load(settings.baseline_path)
        if baseline is not None:
            for warning in baseline.problems(settings.drift_min_clips):
                logger.warning("baseline %s: %s", baseline.source, warning)
        self.baseline = baseline
        rules = alarm_rules(config, baseline)
        on_speech = settings.null_on_speech_min_ratio
        self.metrics = ServerMetrics(self.registry, null_on_speech_min_ratio=on_speech)
        self.recent = RecentResults(clock=clock, null_on_speech_min_ratio=on_speech,
                                    latency_max_clip_s=settings.alarm_latency_max_clip_s,
                                    low_confidence=rules.low_confidence)
        read_cpu = read_cpu or functools.partial(read_process_cpu, usable_cpu())
        self.load = CpuLoad(settings.load_window_s, read=read_cpu, clock=time.monotonic)
        self.host_load = CpuLoad(settings.load_window_s, read=read_host_cpu, clock=time.monotonic)
        self.alarms = AlarmBoard(rules.rules, self.registry, model_labels=self.model_labels, clock=clock,
                                 hold_s=settings.alarm_hold_s)
        self._recognizers: Callable[[], list[Recognizer]] = list
        self._request_log_degraded: Callable[[], str | None] | None = None
        self._deployment: Deployment | None = None
        self.admin: AdminApi | None = None  # the deployment's admin calls (/api/deploy), once the server runs
        self._serving: Callable[[], bool] = lambda: True
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._tick_lock = threading.Lock()
        self.drift_report: list[FeatureDrift] = []
        self.drift: DriftMonitor | None = None
        if baseline is not None:
            self._add_drift(baseline)
        self.metrics.add_gauges(GaugeSources(
            recognizers=lambda: self._recognizers(), num_workers=config.engine.num_workers,
            server_load=self.load.value, host_load=self.host_load.value, resident_memory_bytes=resident_memory_bytes,
            budget_s=config.budget_ms / 1000.0))
        ProcessCollector(registry=self.registry)
        # one token file for both ports (read again when it changes)
        self.tokens = TokenFile(config.auth_tokens_file) if config.auth_tokens_file else None
        self.http = (MonitoringHttpServer(self, config.host, config.http_port, tls=config.tls, tokens=self.tokens,
                                          admin_remote=config.deployment.admin_remote)
                     if config.http_port is not None else None)

    def _add_drift(self, baseline: Baseline) -> None:
        settings = self.config.monitoring
        options = DriftOptions(window_clips=settings.drift_window_clips, min_clips=settings.drift_min_clips)
        self.drift = baseline.drift_monitor(options)
        self._drift_score = Gauge("asr_drift_score", "Drift test score of a feature's live window vs the baseline "
                                  "(ks, binomial: p-value; wasserstein: normalised distance; psi: index).",
                                  ("feature", "test", *MODEL_LABELS), registry=self.registry)
        self._drift_clips = Gauge("asr_drift_window_clips", "Values in a feature's live drift window.",
                                  ("feature", *MODEL_LABELS), registry=self.registry)
        for feature in self.drift.features:
            self.alarms.add_rule(AlarmRule(
                name=f"drift_{feature}", description=f"drift tests flagging {feature}", direction="above",
                fire_at=options.votes_required - 0.5, clear_at=0.5, unit="tests"))

    @property
    def http_port(self) -> int | None:
        """The bound HTTP port (None when HTTP is off)."""
        return self.http.port if self.http else None

    def attach(self, recognizers: Callable[[], list[Recognizer]]) -> None:
        """Tell the monitor where the served recognizers are (for gauges and labels)."""
        self._recognizers = recognizers

    def model_labels(self) -> tuple[str, str]:
        """(model_version, role) of the primary model; ("", "primary") while it loads."""
        recognizers = self._recognizers()
        if not recognizers:
            return "", "primary"
        return recognizers[0].info.model_version, recognizers[0].role

    def observe(self, result: RecognitionResult) -> None:
        """The recognizer's observer: record one result everywhere. O(1).

        A shadow's result has its own metrics (labelled role="shadow") but stays out of the windows the
        alarms and drift judge: no user saw it."""
        self.metrics(result)
        if result.role == "shadow":
            return
        self.recent.add(result)
        if self.drift is not None:
            self.drift.observe(features_of_result(result))

    def watch_health(self, serving: Callable[[], bool]) -> None:
        """Where `GET /healthz` reads the server's grpc.health.v1 status (SERVING: 200, else 503)."""
        self._serving = serving

    def serving(self) -> bool:
        """True while the server's gRPC health says SERVING (always, for a monitor without a server)."""
        return self._serving()

    def watch_request_log(self, degraded: Callable[[], str | None]) -> None:
        """Raise the `request_log` alarm while `degraded()` says why logging is degraded (a full or unwritable
        disk, the size cap): recognition goes on, but consented rows are being dropped."""
        self._request_log_degraded = degraded
        self.alarms.add_rule(AlarmRule(name="request_log", description="request logging degraded (1) or healthy (0)",
                                       direction="above", fire_at=0.5, clear_at=0.5))

    def watch_deployment(self, deployment: Deployment) -> None:
        """Raise the `canary_rollback` alarm after the guards roll a canary back, until the next deployment
        change (a new canary, a switch, a promotion): the candidate failed, someone should look at why."""
        self._deployment = deployment
        self.alarms.add_rule(AlarmRule(name="canary_rollback", description="a canary rolled back by its guards (1) "
                                       "since the last deployment change, or none (0)", direction="above",
                                       fire_at=0.5, clear_at=0.5))

    def deployment_json(self) -> dict[str, Any]:
        """`GET /api/deploy` (the dashboard's deployment panel)."""
        if self.admin is None:
            return {"enabled": False}
        return {"enabled": True, **self.admin.status()}

    def observe_feedback(self, action: str, model_version: str, role: str) -> None:
        """A user's feedback on a result (the servicer's ReportFeedback): counted and windowed. O(1)."""
        self.metrics.feedback.labels(model_version, role, action).inc()
        self.recent.add_feedback(action)

    def tick(self) -> list[str]:
        """Sample the load, evaluate alarms and drift; returns the alarms that changed state."""
        with self._tick_lock:
            self.load.sample()
            self.host_load.sample()
            settings = self.config.monitoring
            window = self.recent.summary(settings.window_s)
            values, details = self._window_values(window)
            values["server_load"] = Reading(self.load.value()) if self.load.ready else None
            details["server_load"] = f"last {settings.load_window_s:g} s"
            before = self.recent.summary(settings.alarm_no_traffic_lookback_s, end_s=window.start_s)
            values["no_traffic"] = Reading(window.requests) if window.requests or before.requests else None
            details["no_traffic"] = (f"last {settings.window_s:g} s; {before.requests} results in the "
                                     f"{settings.alarm_no_traffic_lookback_s:g} s before")
            self._feedback_values(window, before, values, details)
            if self._request_log_degraded is not None:
                why = self._request_log_degraded()
                values["request_log"] = Reading(1.0 if why else 0.0)
                details["request_log"] = why or "writing"
            if self._deployment is not None:
                last = self._deployment.last_rollback
                values["canary_rollback"] = Reading(1.0 if last else 0.0)
                details["canary_rollback"] = (f"{last['model_id']} at {last['percent']:g} %: {last['reason']}" if last
                                              else "no automatic rollback since the last change")
            if self.drift is not None:
                self._drift_values(values, details)
            return self.alarms.evaluate(values, details)

    def _window_values(self, window: WindowSummary) -> tuple[dict[str, Reading | None], dict[str, str]]:
        """The window's readings for the alarms that look at results: None where the window has too few."""
        settings = self.config.monitoring
        least = settings.alarm_min_requests

        def reading(value: float, count: int) -> Reading | None:
            return Reading(value, count) if count >= least else None

        span = f"last {settings.window_s:g} s"
        values = {
            "null_rate": reading(window.null_rate, window.requests),
            "latency_p95": reading(window.judged_latency_p95_ms, window.judged_requests),
            "input_volume_low": reading(window.mean_rms_dbfs, window.requests),
            "input_volume_high": reading(window.mean_rms_dbfs, window.requests),
            "empty_input": reading(window.empty_input_share, window.requests),
            "low_confidence": reading(window.low_confidence_share, window.texts),
            "mean_confidence": reading(window.mean_confidence, window.texts),
        }
        details = dict.fromkeys(values, f"{span}, {window.requests} results")
        judged, bound = window.judged_requests, settings.alarm_latency_max_clip_s
        longer = window.requests - judged
        details["latency_p95"] = f"{span}, {judged} clips of <= {bound:g} s ({longer} longer not judged)"
        for name in ("low_confidence", "mean_confidence"):
            details[name] = f"{span}, {window.texts} results with text"
        names = {state.rule.name for state in self.alarms.states()}
        return {k: v for k, v in values.items() if k in names}, details

    def _feedback_values(self, window: WindowSummary, before: WindowSummary, values: dict[str, Reading | None],
                         details: dict[str, str]) -> None:
        """The feedback shares of the window, each against the earlier traffic's (unless a fixed limit is set)."""
        least = self.config.monitoring.alarm_min_requests
        fixed = self.config.monitoring.alarm_feedback_share_max is not None
        n, n_before = window.feedback_reports, before.feedback_reports
        for action in FEEDBACK_ALARMS:
            name = f"feedback_{action}"
            if n < least or (not fixed and n_before < least):
                values[name] = None
            else:
                reference = None if fixed else (before.feedback_share(action), n_before)
                values[name] = Reading(window.feedback_share(action), n, reference)
            details[name] = (f"last {self.config.monitoring.window_s:g} s, {n} feedback reports"
                             + ("" if fixed else f"; {n_before} in the "
                                f"{self.config.monitoring.alarm_no_traffic_lookback_s:g} s before"))

    def _drift_values(self, values: dict[str, Reading | None], details: dict[str, str]) -> None:
        assert self.drift is not None
        self.drift_report = self.drift.evaluate()
        labels = self.model_labels()
        for feature in self.drift.features:
            values[f"drift_{feature}"] = None
        for verdict in self.drift_report:
            name = f"drift_{verdict.feature}"
            values[name] = Reading(float(verdict.votes), verdict.clips)
            flagged = ", ".join(t for t, f in verdict.flags.items() if f) or "none"
            details[name] = (f"{verdict.clips} clips, mean {verdict.live_mean:.4g} vs baseline "
                             f"{verdict.baseline_mean:.4g}, flagged by: {flagged}")
            for test, score in verdict.scores.items():
                self._drift_score.labels(verdict.feature, test, *labels).set(score)
            self._drift_clips.labels(verdict.feature, *labels).set(verdict.clips)

    async def start(self) -> None:
        """Serve HTTP and start the timer."""
        if self.http:
            self.http.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="asr-monitor")

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:  # a monitoring bug must not take the server down; say so loudly
                logger.exception("monitor tick failed")
            await asyncio.sleep(self.config.monitoring.interval_s)

    async def stop(self) -> None:
        """Stop the timer and the HTTP server."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.http:
            await asyncio.to_thread(self.http.stop)

    def drift_json(self) -> dict[str, Any]:
        """`GET /api/drift`."""
        if self.drift is None:
            return {"enabled": False, "features": []}
        votes = self.drift.options.votes_required
        problems = self.baseline.problems(self.drift.options.min_clips) if self.baseline else []
        return {"enabled": True, "baseline": self.baseline.source if self.baseline else "", "warnings": problems,
                "options": {k: v for k, v in vars(self.drift.options).items() if k != "features"},
                "features": [v.to_json(votes) for v in self.drift_report]}

    def timeseries_json(self, span_s: float, step_s: float) -> dict[str, Any]:
        """`GET /api/timeseries`: per-step figures, the budget, the baseline bands, the active alarms."""
        points = [p.to_json() for p in self.recent.series(span_s, step_s)]
        baseline: dict[str, Any] = {}
        if self.drift is not None:
            baseline = {name: self.drift.summary_of(name) for name in
                        ("rms_dbfs", "duration_s", "confidence", "words_per_s", "speech_ratio", "pitch_hz")}
        if self.baseline is not None and self.baseline.null_rate is not None:
            baseline["null_rate"] = {"mean": self.baseline.null_rate}
        model_version, role = self.model_labels()
        return {"now": self._clock(), "span_s": span_s, "step_s": step_s, "budget_ms": self.config.budget_ms,
                "model_version": model_version, "role": role, "points": points, "baseline": baseline,
                "alarms": self.alarms.to_json()}
