"""Monitoring of the server: Prometheus metrics, alarms, drift against a baseline, a dashboard.

One `Monitor` per server (`asr_service.server` wires it): its `observe` is the recognizer's
observer, its `registry` also holds the gRPC call counts (the server's interceptor), and its HTTP
server answers `/metrics`, `/`, `/api/alarms`, `/api/timeseries` and `/api/drift`. Nothing here
imports gRPC. The client-side tools around it (building a baseline, replaying traffic) live in
`asr_service.client`. See docs/monitoring.md.
"""

from asr_service.monitoring._alarms import AlarmBoard, AlarmRule, AlarmState, Margin, Reading
from asr_service.monitoring._baseline import Baseline
from asr_service.monitoring._drift import DriftMonitor, DriftOptions, FeatureDrift
from asr_service.monitoring._features import Answer, ClipFeatures, audio_features, features_of_result
from asr_service.monitoring._metrics import LATENCY_BUCKETS_S, MODEL_LABELS, ServerMetrics
from asr_service.monitoring._monitor import Monitor
from asr_service.monitoring._rules import AlarmRules, alarm_rules
from asr_service.monitoring._summaries import RecentResults, WindowSummary

__all__ = [
    "LATENCY_BUCKETS_S",
    "MODEL_LABELS",
    "AlarmBoard",
    "AlarmRule",
    "AlarmRules",
    "AlarmState",
    "Answer",
    "Baseline",
    "ClipFeatures",
    "DriftMonitor",
    "DriftOptions",
    "FeatureDrift",
    "Margin",
    "Monitor",
    "Reading",
    "RecentResults",
    "ServerMetrics",
    "WindowSummary",
    "alarm_rules",
    "audio_features",
    "features_of_result",
]
