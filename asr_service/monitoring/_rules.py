"""The server's alarm rules: the `[monitoring]` limits, and limits derived from the drift baseline.

A limit the config leaves unset comes from data: the baseline's own figure plus `alarm_margin_z`
standard errors of the difference between the live window and the baseline (`Margin`), so a window
of 20 results gets a wider margin than one of 500, and a baseline of 40 clips a wider one than a
baseline of 4000. Shares use the Jeffreys estimate (k + 0.5) / (n + 1), so a baseline without a
single null still allows a few. Without a baseline, the null rate is judged against the tune split
of the shared speech (default VAD, tiny.en: 0 nulls in 40 clips), and the model-output alarms
(low-confidence share, mean confidence) are off: they need a baseline built with the model.

The users' feedback alarms (share of feedback reports that were "retried", "switched to typing")
have no dev-set baseline: they are judged against the same server's own earlier traffic (the
`alarm_no_traffic_lookback_s` before the window), with the same margin. They catch a change (a new
model, a broken client release), not a level that was always bad; set `alarm_feedback_share_max` for
a fixed limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from asr_service.config import ServerConfig
from asr_service.monitoring._alarms import AlarmRule, Margin
from asr_service.monitoring._baseline import Baseline

__all__ = ["DEFAULT_NULL_BASELINE", "FEEDBACK_ALARMS", "AlarmRules", "alarm_rules"]

# (nulls, clips) of the tune split of ../shared/data/speech through the default VAD and tiny.en
# (bench/bench_alarms.py --split tune): the null-rate reference when the server has no baseline.
DEFAULT_NULL_BASELINE = (0, 40)
FEEDBACK_ALARMS = ("retried", "switched_to_typing")  # the users' actions that say the result was not usable
LOW_CONFIDENCE_QUANTILE = 0.1  # without alarm_low_confidence: the baseline's 10th percentile of confidence


@dataclass(frozen=True)
class AlarmRules:
    """The rules, and the confidence under which a result counts as low (None: that alarm is off)."""

    rules: list[AlarmRule]
    low_confidence: float | None


def _share_rule(name: str, description: str, hits: int, n: int, z: float) -> AlarmRule:
    """A share that must not rise past the baseline's `hits / n` (Jeffreys estimate) by more than `z` se."""
    p = (hits + 0.5) / (n + 1)
    return AlarmRule(name=name, description=description, direction="above", fire_at=p, clear_at=p,
                     margin=Margin(spread=math.sqrt(p * (1 - p)), fire_z=z, clear_z=z / 2, reference_n=n))


def alarm_rules(config: ServerConfig, baseline: Baseline | None) -> AlarmRules:
    """Every alarm except drift (the drift monitor adds its own)."""
    m = config.monitoring
    keep, z = m.alarm_clear_ratio, m.alarm_margin_z
    p95_max_ms = m.alarm_latency_p95_max_ms or config.budget_ms
    band = m.alarm_volume_hysteresis_db
    if m.alarm_null_rate_max is not None:
        null_rate = AlarmRule(name="null_rate", description="share of results without text", direction="above",
                              fire_at=m.alarm_null_rate_max, clear_at=m.alarm_null_rate_max * keep)
    else:
        if baseline is not None and baseline.null_rate is not None and baseline.clips > 0:
            nulls, clips = round(baseline.null_rate * baseline.clips), baseline.clips
        else:
            nulls, clips = DEFAULT_NULL_BASELINE
        null_rate = _share_rule("null_rate", "share of results without text", nulls, clips, z)
    rules = [
        null_rate,
        AlarmRule(name="latency_p95", description=f"95th percentile of server time per clip of <= "
                  f"{m.alarm_latency_max_clip_s:g} s", direction="above", fire_at=p95_max_ms,
                  clear_at=p95_max_ms * keep, unit="ms"),
        AlarmRule(name="input_volume_low", description="mean clip RMS level", direction="below",
                  fire_at=m.alarm_volume_min_dbfs, clear_at=m.alarm_volume_min_dbfs + band, unit="dBFS"),
        AlarmRule(name="input_volume_high", description="mean clip RMS level", direction="above",
                  fire_at=m.alarm_volume_max_dbfs, clear_at=m.alarm_volume_max_dbfs - band, unit="dBFS"),
        AlarmRule(name="server_load", description="server process CPU share of the cores it may use",
                  direction="above", fire_at=m.alarm_load_max, clear_at=m.alarm_load_max * keep),
        AlarmRule(name="empty_input", description="share of clips empty or below the volume floor",
                  direction="above", fire_at=m.alarm_empty_input_max, clear_at=m.alarm_empty_input_max * keep),
        AlarmRule(name="no_traffic", description=f"results in the window (after traffic in the last "
                  f"{m.alarm_no_traffic_lookback_s:g} s)", direction="below", fire_at=0.5, clear_at=0.5,
                  unit="results"),
    ]
    for action in FEEDBACK_ALARMS:
        what = f"share of users' feedback that was {action}"
        if m.alarm_feedback_share_max is not None:
            limit = m.alarm_feedback_share_max
            rules.append(AlarmRule(name=f"feedback_{action}", description=what, direction="above", fire_at=limit,
                                   clear_at=limit * keep))
        else:  # judged against earlier traffic (`Reading.reference`); fire_at is a placeholder
            rules.append(AlarmRule(name=f"feedback_{action}", description=f"{what}, vs the earlier traffic",
                                   direction="above", fire_at=0.0, clear_at=0.0,
                                   margin=Margin(spread=0.0, fire_z=z, clear_z=z / 2)))
    confidence = np.asarray(baseline.features.get("confidence", []) if baseline else [], dtype=np.float64)
    low_confidence = None
    if confidence.size >= 2:
        low_confidence = (m.alarm_low_confidence if m.alarm_low_confidence is not None
                          else float(np.quantile(confidence, LOW_CONFIDENCE_QUANTILE)))
        rules.append(_share_rule("low_confidence", f"share of results with text under confidence "
                                 f"{low_confidence:.3g}", int(np.sum(confidence < low_confidence)), confidence.size, z))
        mean, sd = float(np.mean(confidence)), float(np.std(confidence, ddof=1))
        rules.append(AlarmRule(name="mean_confidence", description="mean confidence of results with text",
                               direction="below", fire_at=mean, clear_at=mean,
                               margin=Margin(spread=sd, fire_z=z, clear_z=z / 2, reference_n=confidence.size)))
    return AlarmRules(rules, low_confidence)
