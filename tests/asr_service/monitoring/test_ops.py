"""ops/: the alert rules pass promtool, and every metric name in them and in the Grafana JSON is exported."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from asr_service.config import ServerConfig
from asr_service.monitoring import Baseline, ClipFeatures, Monitor
from asr_service.server._interceptor import MetricsInterceptor
from tests.paths import REPO_ROOT

OPS = REPO_ROOT / "ops"
RULES = OPS / "prometheus" / "alerts.yml"
GRAFANA = OPS / "grafana" / "asr-server-dashboard.json"
_NAME = re.compile(r"\b(asr_[a-z0-9_]+)\b")


def exported_names() -> set[str]:
    """Sample names the server can export (every family, with its type's suffixes)."""
    rows = [ClipFeatures(duration_s=1.0 + i, rms_dbfs=-20.0 - i, pitch_hz=120.0 + i, speech_ratio=0.5,
                         padding_s=0.3, confidence=0.9, words_per_s=2.0, is_null=False) for i in range(5)]
    monitor = Monitor(ServerConfig(), baseline=Baseline.from_features(rows, source="test"))
    MetricsInterceptor(monitor.registry, monitor.model_labels)  # the gRPC call counts, as the server adds them
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "gauge": ("",), "info": ("_info",)}
    names = set()
    for family in monitor.registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian package prometheus)")
def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 11 rules found" in done.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian package prometheus)")
def test_the_rules_unit_tests_pass() -> None:
    """Target down and traffic stopped fire when they should and not before (ops/prometheus/alerts_test.yml)."""
    done = subprocess.run(["promtool", "test", "rules", str(RULES.with_name("alerts_test.yml"))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_rules_and_dashboard_use_only_exported_metrics() -> None:
    exported = exported_names()
    assert {"asr_request_duration_seconds_bucket", "asr_null_transcripts_total", "asr_drift_score",
            "asr_alarm_active", "asr_grpc_server_handled_total", "asr_model_info"} <= exported
    in_rules = set(_NAME.findall(RULES.read_text()))
    exprs = [t["expr"] for p in json.loads(GRAFANA.read_text())["panels"] for t in p["targets"]]
    in_dashboard = set(_NAME.findall(" ".join(exprs)))
    assert len(in_rules) >= 10 and len(in_dashboard) >= 15
    assert in_rules - exported == set()
    assert in_dashboard - exported == set()
