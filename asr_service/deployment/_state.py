"""The deployment state file: the models a server holds and its policy, kept across restarts.

One JSON object, replaced whole on every change (written to a temp file, synced, renamed: a crash
leaves the old state or the new one, never half of one)::

    {"version": 1, "models": [{"source": "tiny.en", "model_id": "whisper-tiny.en"}, ...],
     "primary": "whisper-tiny.en", "previous": null,
     "canary": {"model_id": "whisper-base", "steps": [5, 25, 50, 100], "step": 1} | null,
     "shadow": {"model_id": "...", "sample": 1.0} | null}

A canary comes back at the step it had reached, with its guards' windows empty.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asr_service.deployment._models import ModelSpec
from asr_service.errors import ConfigError

__all__ = ["DeploymentState", "read_state", "write_state"]

_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class DeploymentState:
    """What a restarted server restores."""

    models: list[ModelSpec]
    primary: str | None
    previous: str | None = None
    canary: dict[str, Any] | None = None  # model_id, steps, step
    shadow: dict[str, Any] | None = None  # model_id, sample

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {"version": _VERSION, "models": [m.to_json() for m in self.models], "primary": self.primary,
                "previous": self.previous, "canary": self.canary, "shadow": self.shadow}


def write_state(path: str | Path, state: DeploymentState) -> None:
    """Replace the state file atomically (OSError when its folder is not writable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(state.to_json(), indent=2).encode("utf-8") + b"\n"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_state(path: str | Path) -> DeploymentState | None:
    """The state in `path`, None when there is no file yet; ConfigError naming what is wrong with one that
    cannot be used (the server does not start on a state it cannot read: it would forget the rollout)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"deployment.state_file {path}: cannot read it ({exc})") from exc
    where = f"deployment.state_file {path}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not JSON ({exc}); fix it or remove it to start from engine.model") from exc
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        raise ConfigError(f"{where}: not a version {_VERSION} deployment state")
    models = data.get("models")
    if not isinstance(models, list):
        raise ConfigError(f"{where}: models must be a list")
    specs = [ModelSpec.from_json(m, where=f"{where} models[{i}]") for i, m in enumerate(models)]
    ids = [s.model_id for s in specs]
    primary = data.get("primary")
    if primary not in ids or len(set(ids)) != len(ids) or "" in ids:
        raise ConfigError(f"{where}: every model needs a unique id, and the primary ({primary!r}) must be one")
    canary, shadow = data.get("canary"), data.get("shadow")
    if canary is not None and not (isinstance(canary, dict) and canary.get("model_id") in ids
                                   and isinstance(canary.get("steps"), list) and isinstance(canary.get("step"), int)):
        raise ConfigError(f"{where}: canary must be null or have a loaded model_id, steps and step")
    if shadow is not None and not (isinstance(shadow, dict) and shadow.get("model_id") in ids
                                   and isinstance(shadow.get("sample"), int | float)):
        raise ConfigError(f"{where}: shadow must be null or have a loaded model_id and a sample")
    previous = data.get("previous")
    return DeploymentState(models=specs, primary=primary, previous=previous if previous in ids else None,
                           canary=canary, shadow=shadow)
