"""The drift baseline: a reference profile of clip features from a dev set, stored as JSON.

The server loads one (`monitoring.baseline_path`) and compares live traffic with it; the client side
builds one from a dev set (`asr_service.client.build_baseline`, `asr monitor baseline`). It must come
from the same kind of traffic the server will see (same clients, VAD settings, devices, speakers):
drift is measured against it, and the alarm limits left unset in `[monitoring]` are derived from it.

A baseline with fewer clips than the live drift window needs for a verdict (`drift_min_clips`, 100) is
too small to compare against: its own sampling noise looks like drift (a 30-clip baseline flagged a
0.5 dB shift). Building one says so, the file records it (`warnings`), and the server logs it at start.

Pitch values are only comparable with the estimate that measured them: the file records it
(`pitch_method`), and drift leaves pitch out, with a warning, against a baseline from another estimate
(one built before 2026-12-08 read higher voices at a sub-multiple of their pitch; asr_service/pitch.py).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr_service.errors import ConfigError
from asr_service.monitoring._drift import DriftMonitor, DriftOptions
from asr_service.monitoring._features import NUMERIC_FEATURES, ClipFeatures
from asr_service.pitch import PITCH_METHOD

__all__ = ["BASELINE_FORMAT", "Baseline", "too_small"]

BASELINE_FORMAT = "asr-drift-baseline/1"


def too_small(clips: int, min_clips: int) -> list[str]:
    """The warning for a baseline of `clips` clips where drift verdicts need `min_clips` (none if enough)."""
    if clips >= min_clips:
        return []
    return [f"only {clips} clips: drift verdicts need {min_clips} live clips, and a baseline smaller than that "
            f"makes its own sampling noise look like drift; build it from more of the same traffic"]


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """Reference values per feature (one per clip) and the null rate (None without a model)."""

    source: str
    clips: int
    features: dict[str, list[float]]
    null_rate: float | None
    vad_options: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""
    created_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    pitch_method: str = ""  # the estimate behind `features["pitch_hz"]` ("": one before it was recorded)

    @classmethod
    def from_features(cls, rows: list[ClipFeatures], *, source: str, **extra: Any) -> Baseline:
        """A baseline from per-clip features."""
        features = {name: [v for r in rows if (v := getattr(r, name)) is not None] for name in NUMERIC_FEATURES}
        judged = [r.is_null for r in rows if r.is_null is not None]
        null_rate = sum(judged) / len(judged) if judged else None
        warnings = too_small(len(rows), DriftOptions().min_clips)
        return cls(source=source, clips=len(rows), features=features, null_rate=null_rate,
                   created_s=time.time(), warnings=warnings, pitch_method=PITCH_METHOD, **extra)

    @property
    def stale_pitch(self) -> bool:
        """True when the baseline has pitch values from another estimate than this server's."""
        return bool(self.features.get("pitch_hz")) and self.pitch_method != PITCH_METHOD

    def problems(self, min_clips: int) -> list[str]:
        """What makes this baseline weak for a server whose drift verdicts need `min_clips` clips."""
        stale = [f"its pitch values come from another pitch estimate ({self.pitch_method or 'before 2026-12-08'}, "
                 f"this server's is {PITCH_METHOD}), so drift leaves pitch out; build the baseline again "
                 f"(asr monitor baseline) to watch pitch"] if self.stale_pitch else []
        return too_small(self.clips, min_clips) + stale

    def drift_monitor(self, options: DriftOptions | None = None) -> DriftMonitor:
        """A drift monitor against this baseline (without pitch when its values are `stale_pitch`)."""
        features = {k: v for k, v in self.features.items() if not (k == "pitch_hz" and self.stale_pitch)}
        return DriftMonitor(features, self.null_rate, options)

    def save(self, path: str | Path) -> None:
        """Write as JSON."""
        data = {"format": BASELINE_FORMAT, **dataclasses.asdict(self)}
        Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read a file written by `save` (ConfigError naming the file when it is not one)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"monitoring.baseline_path: cannot read {path} as a baseline ({exc})") from exc
        if not isinstance(data, dict) or data.pop("format", None) != BASELINE_FORMAT:
            raise ConfigError(
                f"monitoring.baseline_path: {path} is not a {BASELINE_FORMAT} file (make one: asr monitor baseline)")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"monitoring.baseline_path: {path}: {exc}") from exc
