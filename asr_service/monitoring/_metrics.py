"""Prometheus metrics of one server: a registry per server instance, fed by a recognizer observer.

Names follow ARCHITECTURE.md (prefix `asr_`, base units). Every `asr_` series carries
`model_version` and `role`; process-wide gauges (load, memory) carry the primary model's labels.
The observer is on the hot path: it looks up the labelled children once per (model_version, role)
and then only calls `observe`/`inc` on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from asr_service.recognizer import NullReason, RecognitionResult, Recognizer

__all__ = [
    "CONFIDENCE_BUCKETS",
    "DURATION_BUCKETS_S",
    "LATENCY_BUCKETS_S",
    "LEVEL_BUCKETS_DBFS",
    "MODEL_LABELS",
    "GaugeSources",
    "ServerMetrics",
]

MODEL_LABELS = ("model_version", "role")
# prometheus_client's defaults jump from 0.25 to 0.5 s: a 300 ms budget needs a bucket at 0.3.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0)
DURATION_BUCKETS_S = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0)
LEVEL_BUCKETS_DBFS = (-90.0, -70.0, -60.0, -50.0, -45.0, -40.0, -35.0, -30.0, -25.0, -20.0, -15.0, -10.0, -6.0,
                      -3.0, -1.0, 0.0)
CLIPPING_BUCKETS = (0.0, 0.0001, 0.001, 0.01, 0.05, 0.1, 0.5)
RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
CONFIDENCE_BUCKETS = RATIO_BUCKETS
PADDING_BUCKETS_S = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0)
WPS_BUCKETS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)


@dataclass(frozen=True, kw_only=True)
class GaugeSources:
    """Where the gauges read from at scrape time (each returns the current value)."""

    recognizers: Callable[[], list[Recognizer]]
    num_workers: int
    server_load: Callable[[], float]
    host_load: Callable[[], float]
    resident_memory_bytes: Callable[[], float]
    budget_s: float


class ServerMetrics:
    """The `asr_*` metrics of one server in their own registry; call it with each result."""

    def __init__(self, registry: CollectorRegistry | None = None, *, null_on_speech_min_ratio: float = 0.53) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.null_on_speech_min_ratio = null_on_speech_min_ratio
        r = self.registry
        m = MODEL_LABELS
        self.request_duration = Histogram(
            "asr_request_duration_seconds", "Server time per clip, last byte in to result out.", m,
            buckets=LATENCY_BUCKETS_S, registry=r)
        self.inference_duration = Histogram(
            "asr_inference_duration_seconds", "Engine time per clip (0 for clips skipped before the model).", m,
            buckets=LATENCY_BUCKETS_S, registry=r)
        self.queue_wait = Histogram(
            "asr_queue_wait_seconds", "Time a clip waited for a worker.", m, buckets=LATENCY_BUCKETS_S, registry=r)
        self.budget_exceeded = Counter(
            "asr_budget_exceeded", "Results whose server time exceeded the latency budget.", m, registry=r)
        self.audio_duration = Histogram(
            "asr_input_audio_duration_seconds", "Clip length as received.", m, buckets=DURATION_BUCKETS_S, registry=r)
        self.rms = Histogram("asr_input_rms_dbfs", "Clip RMS level (dBFS).", m, buckets=LEVEL_BUCKETS_DBFS, registry=r)
        self.peak = Histogram(
            "asr_input_peak_dbfs", "Clip peak level (dBFS).", m, buckets=LEVEL_BUCKETS_DBFS, registry=r)
        self.clipping = Histogram(
            "asr_input_clipping_ratio", "Share of samples at full scale.", m, buckets=CLIPPING_BUCKETS, registry=r)
        self.audio_seconds = Counter("asr_input_audio_seconds", "Audio received, in seconds.", m, registry=r)
        self.speech_ratio = Histogram(
            "asr_input_speech_ratio", "Client VAD: voiced share of the clip.", m, buckets=RATIO_BUCKETS, registry=r)
        self.padding = Histogram(
            "asr_input_vad_padding_seconds", "Client VAD: silence kept before (pre) / after (post) the speech.",
            (*m, "side"), buckets=PADDING_BUCKETS_S, registry=r)
        self.vad_split = Counter(
            "asr_input_vad_split", "Client VAD: clips cut because speech ran past max_clip_s.", m, registry=r)
        self.vad_missing = Counter(
            "asr_input_vad_stats_missing", "Clips sent without client VAD stats.", m, registry=r)
        self.transcripts = Counter("asr_transcripts", "Results returned (with or without text).", m, registry=r)
        self.feedback = Counter("asr_feedback", "Users' feedback on results (ReportFeedback), by action: accepted, "
                                "edited, retried, switched_to_typing.", (*m, "action"), registry=r)
        self.nulls = Counter(
            "asr_null_transcripts", "Results without text, by null reason.", (*m, "reason"), registry=r)
        self.nulls_on_speech = Counter(
            "asr_null_on_speech", "Results without text for clips the client VAD judged speech (speech ratio >= "
            "monitoring.null_on_speech_min_ratio), by null reason: the VAD and the model disagree.",
            (*m, "reason"), registry=r)
        self.confidence = Histogram(
            "asr_transcript_confidence", "Confidence of results with text.", m, buckets=CONFIDENCE_BUCKETS, registry=r)
        self.words_per_second = Histogram(
            "asr_transcript_words_per_second", "Words of a result with text per second of clip.", m,
            buckets=WPS_BUCKETS, registry=r)
        self.fallbacks = Counter(
            "asr_decode_fallbacks", "Results decoded again on the full window.", m, registry=r)
        self._series: dict[tuple[str, str], _Series] = {}
        self._lock = threading.Lock()

    def add_gauges(self, sources: GaugeSources) -> None:
        """Register the gauges read at scrape time (in flight, queue depth, load, memory, model info)."""
        self.registry.register(_GaugeCollector(sources))

    def __call__(self, result: RecognitionResult) -> None:
        """Record one result (the recognizer's observer)."""
        key = (result.model.model_version, result.role)
        series = self._series.get(key)
        if series is None:
            series = self._bind(key)
        latency = result.latency
        series.request_duration.observe(latency.server_total_ms / 1000.0)
        series.inference_duration.observe(latency.inference_ms / 1000.0)
        series.queue_wait.observe(latency.queue_wait_ms / 1000.0)
        if latency.budget_exceeded:
            series.budget_exceeded.inc()
        audio = result.audio
        series.audio_duration.observe(audio.duration_s)
        series.audio_seconds.inc(audio.duration_s)
        if audio.duration_s > 0:
            series.rms.observe(audio.rms_dbfs)
            series.peak.observe(audio.peak_dbfs)
            series.clipping.observe(audio.clipped_ratio)
        vad = result.vad
        if vad is None:
            series.vad_missing.inc()
        else:
            series.speech_ratio.observe(vad.speech_ratio)
            series.pre_padding.observe(vad.pre_padding_ms / 1000.0)
            series.post_padding.observe(vad.post_padding_ms / 1000.0)
            if vad.split:
                series.vad_split.inc()
        series.transcripts.inc()
        if result.used_fallback:
            series.fallbacks.inc()
        if result.null_reason is NullReason.NONE:
            series.confidence.observe(result.confidence)
            if audio.duration_s > 0:
                series.words_per_second.observe(len(result.text.split()) / audio.duration_s)
        else:
            series.null_child(result.null_reason).inc()
            if result.null_on_speech(self.null_on_speech_min_ratio):
                series.null_on_speech_child(result.null_reason).inc()

    def _bind(self, key: tuple[str, str]) -> _Series:
        with self._lock:
            if key not in self._series:
                self._series[key] = _Series(self, key)
            return self._series[key]


class _Series:
    """The labelled children of one (model_version, role), looked up once."""

    def __init__(self, metrics: ServerMetrics, key: tuple[str, str]) -> None:
        self._metrics = metrics
        self._key = key
        self.request_duration = metrics.request_duration.labels(*key)
        self.inference_duration = metrics.inference_duration.labels(*key)
        self.queue_wait = metrics.queue_wait.labels(*key)
        self.budget_exceeded = metrics.budget_exceeded.labels(*key)
        self.audio_duration = metrics.audio_duration.labels(*key)
        self.audio_seconds = metrics.audio_seconds.labels(*key)
        self.rms = metrics.rms.labels(*key)
        self.peak = metrics.peak.labels(*key)
        self.clipping = metrics.clipping.labels(*key)
        self.speech_ratio = metrics.speech_ratio.labels(*key)
        self.pre_padding = metrics.padding.labels(*key, "pre")
        self.post_padding = metrics.padding.labels(*key, "post")
        self.vad_split = metrics.vad_split.labels(*key)
        self.vad_missing = metrics.vad_missing.labels(*key)
        self.transcripts = metrics.transcripts.labels(*key)
        self.confidence = metrics.confidence.labels(*key)
        self.words_per_second = metrics.words_per_second.labels(*key)
        self.fallbacks = metrics.fallbacks.labels(*key)
        # Every reason up front, so that a null rate query sees 0 rather than no series.
        self._nulls: dict[NullReason, Counter] = {reason: metrics.nulls.labels(*key, reason.name.lower())
                       for reason in NullReason if reason is not NullReason.NONE}
        self._nulls_on_speech: dict[NullReason, Counter] = {
            reason: metrics.nulls_on_speech.labels(*key, reason.name.lower())
            for reason in NullReason if reason is not NullReason.NONE}

    def null_child(self, reason: NullReason) -> Counter:
        """The null counter of `reason`."""
        return self._nulls[reason]

    def null_on_speech_child(self, reason: NullReason) -> Counter:
        """The null-on-speech counter of `reason`."""
        return self._nulls_on_speech[reason]


class _GaugeCollector(Collector):
    """Values read at scrape time: nothing to update on the hot path."""

    def __init__(self, sources: GaugeSources) -> None:
        self._sources = sources

    def describe(self) -> Iterable[Metric]:
        with_nothing = GaugeSources(recognizers=list, num_workers=1, server_load=float, host_load=float,
                                    resident_memory_bytes=float, budget_s=0.0)
        return _GaugeCollector(with_nothing).collect()

    def collect(self) -> Iterable[Metric]:
        m = list(MODEL_LABELS)
        in_flight = GaugeMetricFamily("asr_requests_in_flight", "Clips being transcribed or waiting for a worker.",
                                      labels=m)
        queued = GaugeMetricFamily("asr_queue_depth", "Clips waiting for a worker.", labels=m)
        info = InfoMetricFamily("asr_model", "The served model.", labels=m)
        budget = GaugeMetricFamily("asr_latency_budget_seconds", "The latency budget per clip.", labels=m)
        load = GaugeMetricFamily("asr_server_load_ratio", "CPU time of the server process over load_window_s, "
                                 "as a share of the cores it may use.", labels=m)
        host = GaugeMetricFamily("asr_host_cpu_busy_ratio", "CPU busy share of the whole host over load_window_s.",
                                 labels=m)
        memory = GaugeMetricFamily("asr_process_resident_memory_bytes", "Resident memory of the server.", labels=m)
        recognizers = self._sources.recognizers()
        for rec in recognizers:
            labels = [rec.info.model_version, rec.role]
            in_flight.add_metric(labels, rec.in_flight)
            # Clips past the workers are waiting for one (the recognizer counts both together).
            queued.add_metric(labels, max(0, rec.in_flight - self._sources.num_workers))
            info.add_metric(labels, {"model_id": rec.info.model_id, "engine": rec.info.engine,
                                     "config_hash": rec.info.config_hash})
            budget.add_metric(labels, self._sources.budget_s)
        if recognizers:
            labels = [recognizers[0].info.model_version, recognizers[0].role]
            load.add_metric(labels, self._sources.server_load())
            host.add_metric(labels, self._sources.host_load())
            memory.add_metric(labels, self._sources.resident_memory_bytes())
        return [in_flight, queued, info, budget, load, host, memory]
