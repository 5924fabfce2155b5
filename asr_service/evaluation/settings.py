"""What a run was measured with, recorded in results.json, and what differs between two runs.

results.json's ``settings`` (absent from files written before it existed: every entry then reads
"not recorded")::

    {"transcription": {"path": "vad-clips", "vad": {<vad.VadOptions>}},   # absent: the caller's own transcriber
     "scoring": {"name": "whisper-digits", "whisper_normalizer": "0.1.12"},
     "manifest": {"path": ..., "sha256": ..., "bytes": N},
     "host": {"hostname": ..., "cpu_model": ..., "cores": N},
     "versions": {"asr-service": ..., "ctranslate2": ..., ...}}

Together with ``model`` (the system under test: model version, engine and recognizer settings),
``options`` (normaliser, slice keys, bootstrap, budget, workers) and ``selection`` (date window, row
limit), these are the settings that move a WER or a latency (`EvaluationResults.recorded_settings`).
`settings_differences` lists those that differ between two runs, for ``asr eval compare``;
`same_host` says whether two runs' latencies were measured on one machine.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from asr_service.cores import usable_cores

__all__ = [
    "NOT_RECORDED",
    "SettingDifference",
    "host_fingerprint",
    "manifest_fingerprint",
    "package_versions",
    "same_host",
    "settings_differences",
]

NOT_RECORDED = "not recorded"

HOST_KEYS = ("hostname", "cpu_model", "cores")
"""What tells two machines apart for latency: the same name, CPU model and core count."""

_VERSIONED = ("asr-service", "ctranslate2", "onnxruntime", "tokenizers", "numpy", "soxr", "webrtcvad-wheels",
              "whisper-normalizer", "jiwer")
"""Packages whose version can move a transcript, a score or a latency."""


def host_fingerprint() -> dict[str, Any]:
    """This machine: hostname, CPU model (from /proc/cpuinfo where there is one) and usable cores."""
    return {"hostname": socket.gethostname(), "cpu_model": _cpu_model(), "cores": usable_cores()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def same_host(baseline: Mapping[str, Any] | None, candidate: Mapping[str, Any] | None) -> bool | None:
    """True when both fingerprints name one machine, False when they differ, None when either is missing."""
    if not baseline or not candidate or any(k not in baseline or k not in candidate for k in HOST_KEYS):
        return None
    return all(baseline[k] == candidate[k] for k in HOST_KEYS)


def describe_host(host: Mapping[str, Any] | None) -> str:
    """``hostname (CPU model, N cores)``, or "not recorded"."""
    if not host:
        return NOT_RECORDED
    return f"{host.get('hostname', '?')} ({host.get('cpu_model', '?')}, {host.get('cores', '?')} cores)"


def manifest_fingerprint(path: str | Path) -> dict[str, Any]:
    """The manifest's path, size and SHA-256: a changed manifest shows as a changed digest."""
    source = Path(path)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"path": str(source), "sha256": digest.hexdigest(), "bytes": size}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages in `_VERSIONED` ("not installed" for a missing one)."""
    versions: dict[str, str] = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True, kw_only=True)
class SettingDifference:
    """One setting whose value differs between two runs (`NOT_RECORDED` where a run did not record it)."""

    setting: str  # dotted path: "model.compute_type", "transcription.vad.pre_padding_ms"
    baseline: Any
    candidate: Any

    def to_json(self) -> dict[str, Any]:
        """As written by ``asr eval compare --json``."""
        return {"setting": self.setting, "baseline": self.baseline, "candidate": self.candidate}

    def describe(self) -> str:
        """``setting: baseline -> candidate``."""
        return f"{self.setting}: {_show(self.baseline)} -> {_show(self.candidate)}"


class _Missing:
    pass


_MISSING = _Missing()


def settings_differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[SettingDifference]:
    """Every setting that differs between two runs' recorded settings (`EvaluationResults.recorded_settings`).

    Nested objects are compared entry by entry; an entry (or a whole group) one run lacks is reported
    once, as "not recorded" on that side.
    """
    out: list[SettingDifference] = []
    _diff(baseline, candidate, "", out)
    return out


def _diff(a: Any, b: Any, path: str, out: list[SettingDifference]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted({*a, *b}, key=str):
            _diff(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}" if path else str(key), out)
        return
    if _normal(a) == _normal(b):
        return
    out.append(SettingDifference(setting=path, baseline=NOT_RECORDED if a is _MISSING else a,
                                 candidate=NOT_RECORDED if b is _MISSING else b))


def _normal(value: Any) -> Any:
    """Tuples and lists alike (JSON has only lists); ints and floats alike (1 == 1.0)."""
    if isinstance(value, tuple | list):
        return [_normal(v) for v in value]
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
