"""What a model is in a deployment: how it was asked for (`ModelSpec`), and one loaded and warm (`ServedModel`)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr_service.deployment._faults import FaultOptions
from asr_service.engines import EMBEDDED_MODEL
from asr_service.errors import ConfigError
from asr_service.recognizer import Recognizer

__all__ = ["PROVENANCE_FILE", "ModelSpec", "ServedModel", "read_provenance", "valid_model_id", "with_model_id"]

PROVENANCE_FILE = "asr_model.json"  # written by `asr models import` into the model directory
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model to load: where it comes from, the id it is served under, and faults to inject (rehearsals)."""

    source: str = EMBEDDED_MODEL  # "tiny.en" (embedded), "base" (the `base` extra), a CTranslate2 Whisper directory
    model_id: str = ""  # "" = the engine's own id ("whisper-tiny.en", "whisper-base", the directory's name)
    faults: FaultOptions = field(default_factory=FaultOptions)
    engine: str = ""  # the engine registry's name (asr_service.engines.ENGINES); "" = the server's engine.engine

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ConfigError("model: the source is empty (tiny.en, base, or a CTranslate2 Whisper directory)")
        if self.model_id and not valid_model_id(self.model_id):
            raise ConfigError(f"model id: {self.model_id[:80]!r} is not 1-64 letters, digits and _.+- "
                              "(starting with a letter or digit)")

    @classmethod
    def parse(cls, text: str, faults: str | None = None) -> ModelSpec:
        """From "SOURCE" or "ID=SOURCE" (the config's `models` entries and the CLI)."""
        model_id, sep, source = text.partition("=")
        if not sep:
            model_id, source = "", text
        return cls(source=source.strip(), model_id=model_id.strip(), faults=FaultOptions.parse(faults))

    def to_json(self) -> dict[str, Any]:
        """As the state file and the admin API write it."""
        data: dict[str, Any] = {"source": self.source, "model_id": self.model_id}
        if self.faults.active:
            data["faults"] = self.faults.to_json()
        if self.engine:
            data["engine"] = self.engine
        return data

    @classmethod
    def from_json(cls, data: Any, *, where: str) -> ModelSpec:
        """The inverse of `to_json` (ConfigError naming `where` for anything else)."""
        if not isinstance(data, dict) or set(data) - {"source", "model_id", "faults", "engine"} or "source" not in data:
            raise ConfigError(f"{where}: expected an object with source, model_id, faults and engine")
        source, model_id, engine = data["source"], data.get("model_id", ""), data.get("engine", "")
        if not isinstance(source, str) or not isinstance(model_id, str) or not isinstance(engine, str):
            raise ConfigError(f"{where}: source, model_id and engine are strings")
        faults = data.get("faults")
        if faults is not None and not isinstance(faults, dict | str):
            raise ConfigError(f"{where}: faults is an object (latency_ms, empty_rate, error_rate, seed)")
        return cls(source=source, model_id=model_id, faults=FaultOptions.parse(faults), engine=engine)


@dataclass(kw_only=True)
class ServedModel:
    """A loaded, warmed-up model and what it cost to load."""

    model_id: str
    spec: ModelSpec
    recognizer: Recognizer
    loaded_at: float = field(default_factory=time.time)
    load_s: float = 0.0
    rss_added_bytes: float | None = None  # resident memory before the load vs after the warm-up
    # where the model came from, as `asr models import` recorded it beside the weights (PROVENANCE_FILE)
    provenance: dict[str, Any] | None = None

    def to_json(self, role: str) -> dict[str, Any]:
        """The model as the deployment state shows it."""
        info = self.recognizer.info
        return {"model_id": self.model_id, "model_version": info.model_version, "engine": info.engine,
                "source": self.spec.source, "faults": self.spec.faults.to_json(), "role": role,
                "provenance": self.provenance,
                "languages": len(info.languages), "multilingual": info.multilingual,
                "loaded_at": self.loaded_at, "load_s": round(self.load_s, 2),
                "rss_added_mb": round(self.rss_added_bytes / 2**20, 1) if self.rss_added_bytes is not None else None,
                "in_flight": self.recognizer.in_flight, "mean_inference_ms": self.recognizer.mean_inference_ms}


def read_provenance(source: str) -> dict[str, Any] | None:
    """The provenance record in a model directory (`asr models import` writes it), or None: not a directory,
    no record, or one that is not a JSON object (the model still loads; its origin is just unknown)."""
    path = Path(source).expanduser() / PROVENANCE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def valid_model_id(model_id: str) -> bool:
    """1-64 letters, digits and _.+-, starting with a letter or digit (safe in URLs, labels and pages)."""
    return _MODEL_ID.fullmatch(model_id) is not None


def with_model_id(spec: ModelSpec, model_id: str) -> ModelSpec:
    """`spec` with its id filled in (the id the model was loaded under)."""
    return dataclasses.replace(spec, model_id=model_id)
