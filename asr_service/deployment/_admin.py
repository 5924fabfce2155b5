"""The admin calls on a deployment, as the HTTP port serves them (`/api/deploy`), without HTTP in them.

`AdminApi.call(action, body)` runs in an HTTP handler thread: it checks the body, hops onto the
server's event loop (the deployment is the loop's alone) and answers (status, JSON). A refused call
changes nothing and says why: 400 for a malformed body, 404 for a model that is not loaded, 409 for
a call the current state does not allow (a canary of the primary, promote with no canary, ...).

Why JSON on the HTTP port rather than a gRPC admin service: the HTTP port already carries TLS, the
scoped tokens and the dashboard that shows this state; operators reach it with `curl` or the
`asr deploy` CLI without generated stubs; and the gRPC port stays for recognition alone, so that a
network policy can expose it to clients while the HTTP port stays inside.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import math
import wave
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from asr_service.deployment._deployment import Deployment, NotLoadedError
from asr_service.deployment._faults import FaultOptions
from asr_service.deployment._guards import prepare as prepare_guards
from asr_service.deployment._models import ModelSpec
from asr_service.errors import ConfigError, DeploymentError

__all__ = ["ACTIONS", "AdminApi"]

ACTIONS = ("load", "unload", "switch", "canary", "promote", "rollback", "shadow")
_CALL_TIMEOUT_S = 900.0  # a load of a large model reads and converts its weights
_SAMPLE_RATE_HZ = 16_000
T = TypeVar("T")


class AdminApi:
    """Admin calls on `deployment`, from any thread, run on `loop`."""

    def __init__(self, deployment: Deployment, loop: asyncio.AbstractEventLoop) -> None:
        self._deployment = deployment
        self._loop = loop

    def status(self) -> dict[str, Any]:
        """`GET /api/deploy`."""
        return self._run(self._async(self._deployment.status))

    def report(self) -> dict[str, Any]:
        """`GET /api/deploy/report`: the shadow's figures and the clips on which it disagrees most."""
        def build() -> dict[str, Any]:
            comparisons = self._deployment.shadow_comparisons()
            if comparisons is None:
                return {"shadow": None, "pairs": []}
            return {"shadow": comparisons.summary(), "pairs": [p.to_json() for p in comparisons.worst()]}
        return self._run(self._async(build))

    def report_audio(self, pair_id: int) -> bytes | None:
        """The WAV of the report's pair `pair_id` (its "id"; None when no such pair is kept, or its client did
        not consent to keep audio)."""
        def find() -> bytes | None:
            comparisons = self._deployment.shadow_comparisons()
            pair = comparisons.kept(pair_id) if comparisons is not None else None
            if pair is None or pair.pcm is None:
                return None
            buffer = io.BytesIO()
            with wave.open(buffer, "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(_SAMPLE_RATE_HZ)
                out.writeframes(pair.pcm)
            return buffer.getvalue()
        return self._run(self._async(find))

    def call(self, action: str, body: Any) -> tuple[int, dict[str, Any]]:
        """`POST /api/deploy/<action>` with a JSON object: (HTTP status, the new state or {"error": why})."""
        if action not in ACTIONS:
            return 404, {"error": f"no such action {action!r} (actions: {', '.join(ACTIONS)})"}
        if not isinstance(body, dict):
            return 400, {"error": "the body must be a JSON object"}
        if action == "canary":
            prepare_guards()  # here, in the HTTP thread: not on the event loop at the canary's first look
        try:
            done = self._run(self._dispatch(action, body))
        except concurrent.futures.TimeoutError:
            return 504, {"error": f"{action}: not done after {_CALL_TIMEOUT_S:.0f} s; it goes on in the server: "
                         "see asr deploy status"}
        except DeploymentError as exc:
            return 404 if isinstance(exc, NotLoadedError) else 409, {"error": str(exc)}
        except ConfigError as exc:
            return 400, {"error": str(exc)}
        state = self.status()
        return 200, {"done": done, "state": state}

    async def _dispatch(self, action: str, body: dict[str, Any]) -> str:
        deployment = self._deployment
        allowed = {"load": {"source", "model_id", "faults", "engine"}, "unload": {"model_id"}, "switch": {"model_id"},
                   "canary": {"model_id", "steps"}, "promote": set(), "rollback": set(),
                   "shadow": {"model_id", "sample"}}[action]
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ConfigError(f"{action}: unknown field(s) {unknown} (allowed: {sorted(allowed) or 'none'})")
        if action == "load":
            source = _text(body, "source", required=True)
            faults = body.get("faults")
            if faults is not None and not isinstance(faults, dict | str):
                raise ConfigError("load: faults is an object (latency_ms, empty_rate, error_rate, seed)")
            spec = ModelSpec(source=source, model_id=_text(body, "model_id"), faults=FaultOptions.parse(faults),
                             engine=_text(body, "engine"))
            served = await deployment.load(spec)
            return f"loaded {served.model_id} ({served.recognizer.info.model_version}) in {served.load_s:.1f} s"
        if action == "unload":
            model_id = _text(body, "model_id", required=True)
            await deployment.unload(model_id)
            return f"unloaded {model_id}"
        if action == "switch":
            model_id = _text(body, "model_id", required=True)
            deployment.switch(model_id)
            return f"switched: {model_id} is the primary"
        if action == "canary":
            model_id = _text(body, "model_id", required=True)
            steps = body.get("steps")
            if steps is not None and (not isinstance(steps, list) or not all(
                    isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s) for s in steps)):
                raise ConfigError("canary: steps is a list of percents, e.g. [5, 25, 50, 100]")
            deployment.start_canary(model_id, tuple(float(s) for s in steps) if steps is not None else None)
            return f"canary of {model_id} started"
        if action == "promote":
            deployment.promote()
            return "promoted"
        if action == "rollback":
            return deployment.rollback("operator")
        model = body.get("model_id")
        if model is not None and not isinstance(model, str):
            raise ConfigError("shadow: model_id is a string, or null to stop the shadow")
        sample = body.get("sample")
        if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int | float)):
            raise ConfigError("shadow: sample is a number in (0, 1]")
        deployment.set_shadow(model or None, float(sample) if sample is not None else None)
        return f"shadow: {model}" if model else "shadow stopped"

    @staticmethod
    async def _async(function: Callable[[], T]) -> T:
        return function()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_CALL_TIMEOUT_S)


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > 4096 or (required and not value.strip()):
        raise ConfigError(f"{key}: {'required, ' if required else ''}a string" + (" (not empty)" if required else ""))
    return value.strip()
