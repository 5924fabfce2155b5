"""Monitoring of the server: Prometheus metrics, alarms, drift against a baseline, a dashboard.

One `Monitor` per server (`asr_service.server` wires it): its `observe` is the recognizer's
observer, its `registry` also holds the gRPC call counts (the server's interceptor), and its HTTP
server answers `/metrics`, `/`, `/api/alarms`, `/api/timeseries` and `/api/drift`. Nothing here
imports gRPC. See docs/monitoring.md.
"""

from asr_service.monitoring._alarms import AlarmBoard, AlarmRule, AlarmState, default_rules
from asr_service.monitoring._baseline import Baseline, build_baseline
from asr_service.monitoring._drift import DriftMonitor, DriftOptions, FeatureDrift
from asr_service.monitoring._features import ClipFeatures, features_of_clip, features_of_result
from asr_service.monitoring._metrics import LATENCY_BUCKETS_S, MODEL_LABELS, ServerMetrics
from asr_service.monitoring._monitor import Monitor
from asr_service.monitoring._summaries import RecentResults, WindowSummary

__all__ = [
    "LATENCY_BUCKETS_S",
    "MODEL_LABELS",
    "AlarmBoard",
    "AlarmRule",
    "AlarmState",
    "Baseline",
    "ClipFeatures",
    "DriftMonitor",
    "DriftOptions",
    "FeatureDrift",
    "Monitor",
    "RecentResults",
    "ServerMetrics",
    "WindowSummary",
    "build_baseline",
    "default_rules",
    "features_of_clip",
    "features_of_result",
]
