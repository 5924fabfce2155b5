"""Fault injection for rehearsing a bad rollout: a wrapper that makes any engine slow, empty or failing.

`FaultyEngine(engine, FaultOptions(latency_ms=400, empty_rate=0.3))` answers like the engine it wraps,
except that each clip is delayed by `latency_ms`, answered with no text at `empty_rate`, and fails with
an error at `error_rate` (seeded: a rehearsal can be replayed). Its model version carries the faults
(`+faults-...`), so that its results are never mistaken for the real model's.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asr_service.engines.base import Engine, EngineInfo, Transcription
from asr_service.errors import ConfigError

__all__ = ["FaultOptions", "FaultyEngine", "InjectedFault"]


class InjectedFault(RuntimeError):
    """The error a faulty engine raises at `error_rate` (as a crashing model would)."""


@dataclass(frozen=True, kw_only=True)
class FaultOptions:
    """What goes wrong, and how often. All zero: nothing (the wrapper is not used)."""

    latency_ms: float = 0.0  # added to every clip the engine transcribes
    empty_rate: float = 0.0  # share of clips answered with no text (as if the model heard no speech)
    error_rate: float = 0.0  # share of clips that raise InjectedFault
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "empty_rate", "error_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0 and value == value):
                raise ConfigError.out_of_range(f"faults.{name}", value, ">= 0")
        if self.latency_ms > 60_000:
            raise ConfigError.out_of_range("faults.latency_ms", self.latency_ms, "<= 60000")
        if self.empty_rate + self.error_rate > 1:
            raise ConfigError.out_of_range("faults.empty_rate + faults.error_rate", self.empty_rate + self.error_rate,
                                           "<= 1")

    @property
    def active(self) -> bool:
        """True when something goes wrong at all."""
        return bool(self.latency_ms or self.empty_rate or self.error_rate)

    def label(self) -> str:
        """A short tag of the faults for the model version ("lat400-empty0.3")."""
        parts = [f"lat{self.latency_ms:g}" if self.latency_ms else "", f"empty{self.empty_rate:g}" if self.empty_rate
                 else "", f"err{self.error_rate:g}" if self.error_rate else ""]
        return "-".join(p for p in parts if p)

    def to_json(self) -> dict[str, float]:
        """As the deployment state and the admin API write it."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v}

    @classmethod
    def parse(cls, value: str | dict[str, object] | None) -> FaultOptions:
        """From "latency_ms=400,empty_rate=0.3" (the CLI and config) or a JSON object; ConfigError naming
        what is wrong."""
        if value is None or value == "":
            return cls()
        items: dict[str, object]
        if isinstance(value, str):
            items = {}
            for part in value.split(","):
                key, sep, number = part.partition("=")
                if not sep:
                    raise ConfigError(f"faults: {part.strip()!r} is not KEY=VALUE (latency_ms, empty_rate, "
                                      "error_rate, seed)")
                items[key.strip()] = number.strip()
        elif isinstance(value, dict):
            items = dict(value)
        else:
            raise ConfigError("faults: expected 'KEY=VALUE,...' or an object")
        known = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = sorted(set(items) - set(known))
        if unknown:
            raise ConfigError(f"faults: unknown key(s) {unknown} (known: {', '.join(known)})")
        converted: dict[str, float | int] = {}
        for key, raw in items.items():
            try:
                if isinstance(raw, bool):
                    raise ValueError
                converted[key] = int(str(raw)) if key == "seed" else float(str(raw))
            except ValueError:
                raise ConfigError(f"faults: {key} = {raw!r} is not a number") from None
        return cls(**converted)  # type: ignore[arg-type]


class FaultyEngine:
    """An engine that misbehaves as `faults` says; otherwise the engine it wraps."""

    def __init__(self, engine: Engine, faults: FaultOptions) -> None:
        self._engine = engine
        self._faults = faults
        self._random = random.Random(faults.seed)
        self._lock = threading.Lock()  # one draw at a time: the sequence of faults is the seed's
        info = engine.info
        self._info = dataclasses.replace(info, model_version=f"{info.model_version}+faults-{faults.label()}")

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def faults(self) -> FaultOptions:
        """What this wrapper injects."""
        return self._faults

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        with self._lock:
            draw = self._random.random()
        if self._faults.latency_ms:
            time.sleep(self._faults.latency_ms / 1000.0)
        if draw < self._faults.error_rate:
            raise InjectedFault(f"injected fault: error ({self._info.model_version})")
        result = self._engine.transcribe(audio, context=context, language=language)
        if draw < self._faults.error_rate + self._faults.empty_rate:
            return dataclasses.replace(result, text="", num_tokens=0)
        return result

    def close(self) -> None:
        self._engine.close()
