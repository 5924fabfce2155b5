"""The deployment of one server: the models it holds, and which of them answers each request.

Every loaded model is a warm `Recognizer` with a role:

- **primary**: answers requests that name no model (all of them, or all but the canary's share);
- **canary**: a candidate taking `percent` of default traffic, sticky per client (a hash of the
  client key and the rollout, so a client stays on its side for the whole ramp); it ramps through
  `canary_steps`, each step held for `canary_step_requests` canary answers and `canary_step_s`
  seconds and until every guard has judged and passed, and is promoted past the last; the guards
  (`_guards.py`) compare it with the primary on the same traffic and roll it back automatically when
  it is worse;
- **shadow**: gets a copy of a sample of the primary's clips, after the primary's answer, only when a
  worker is idle and no other shadow clip is running (a clip it cannot take is dropped and counted),
  on one thread of the lowest CPU priority kept off the engine's all-cores path (`Recognizer.recognize
  (background=True)`): it takes only the CPU the primary leaves. Its answers never reach a client and
  are compared with the primary's (`_shadow.py`);
- **standby**: loaded and warm, answering only requests that name it; the previous primary stays
  here after a switch or a promotion, so that `rollback` is instant.

Switching (blue/green) and promotion change which recognizer `route` returns, at once; a request
already routed finishes on the model it started on. `rollback` undoes the last change, whatever it
was: it ends a canary (the primary never changed), else makes the previous primary primary again.
Loads happen off the event loop, one at a time, and are warmed up before the model takes any
traffic; a load that fails changes nothing. Every change is written to the state file (when one is
set) before it is answered, so that a restarted server comes back with the same models and policy.

Used from the server's event loop only (the HTTP admin endpoints hop onto it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

from asr_service.audio import DecodedClip
from asr_service.config import ServerConfig
from asr_service.deployment._faults import FaultyEngine
from asr_service.deployment._guards import GuardOptions, GuardReading, SideWindow, judge
from asr_service.deployment._guards import prepare as prepare_guards
from asr_service.deployment._models import ModelSpec, ServedModel, read_provenance, valid_model_id, with_model_id
from asr_service.deployment._shadow import ShadowComparisons
from asr_service.deployment._state import DeploymentState, read_state, write_state
from asr_service.engines import Engine, EngineFactory
from asr_service.errors import ConfigError, DeploymentError, UnavailableError, UnknownModelError
from asr_service.monitoring._system import resident_memory_bytes
from asr_service.recognizer import Observer, RecognitionResult, Recognizer, VadStats

__all__ = ["Deployment", "Kept", "NotLoadedError", "Route"]

logger = logging.getLogger(__name__)

Role = Literal["primary", "canary", "shadow", "standby"]
_GUARD_EVERY = 5  # canary answers between two looks of the guards (each look is a chance to fire on noise)
_EVENTS = 100


class NotLoadedError(DeploymentError):
    """An admin command named a model that is not loaded."""


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where one request goes: the recognizer, the role its results carry, and whether it counts for a rollout."""

    recognizer: Recognizer
    model_id: str
    role: Role
    rollout: int | None = None  # the canary rollout that split this request (None: not split, not judged)


@dataclass(frozen=True, kw_only=True)
class Kept:
    """What the client allows the server to keep of a clip (for the shadow report)."""

    text: bool = False
    audio: bool = False


@dataclass
class _Canary:
    model_id: str
    rollout: int
    steps: tuple[float, ...]
    step: int = 0
    started_at: float = field(default_factory=time.time)
    step_started_at: float = field(default_factory=time.monotonic)
    step_answers: int = 0
    answers_since_look: int = 0
    looked_at: int = 0  # canary answers when the guards last looked
    canary: SideWindow = field(default_factory=lambda: SideWindow(1))
    primary: SideWindow = field(default_factory=lambda: SideWindow(1))
    readings: list[GuardReading] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return self.steps[self.step]


@dataclass
class _Shadow:
    model_id: str
    comparisons: ShadowComparisons
    busy: bool = False


class Deployment:
    """The models of one server and the policy that routes default traffic among them."""

    def __init__(self, config: ServerConfig, *, engine_factory: EngineFactory,
                 observers: tuple[Observer, ...] = (), registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.monotonic, seed: int | None = None) -> None:
        self._config = config
        self._options = config.deployment
        self._engine_factory = engine_factory
        self._observers = observers
        self._clock = clock
        self._random = random.Random(seed)
        self._models: dict[str, ServedModel] = {}
        self._primary: str | None = None
        self._previous: str | None = None  # the primary before the last switch or promotion
        self._canary: _Canary | None = None
        self._shadow: _Shadow | None = None
        self._rollouts = 0
        self._last_rollback: dict[str, Any] | None = None  # the last automatic rollback, until the next change
        self._draining = False
        self._load_lock = asyncio.Lock()
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self.events: deque[dict[str, Any]] = deque(maxlen=_EVENTS)
        self._guard_options = GuardOptions(window=self._options.guard_window,
                                           min_requests=self._options.guard_min_requests, z=self._options.guard_z)
        registry = registry or CollectorRegistry()
        labels = ("model_version", "role")  # like every asr_ series: the model it is about, and its role
        self._rollbacks = Counter("asr_deploy_rollbacks", "Rollbacks, by reason (a failed guard's name, or operator); "
                                  "labelled with the model rolled back.", (*labels, "reason"), registry=registry)
        self._promotions = Counter("asr_deploy_promotions", "Canaries promoted to primary.", labels, registry=registry)
        self._canary_percent = Gauge("asr_deploy_canary_percent", "Share of default traffic the canary gets (0: none).",
                                     labels, registry=registry)
        self._shadow_pairs = Counter("asr_shadow_clips", "Primary clips offered to the shadow, by outcome.",
                                     (*labels, "outcome"), registry=registry)
        self._shadow_wer = Gauge("asr_shadow_wer_vs_primary", "Word error rate of the shadow's transcripts against "
                                 "the primary's, since the shadow started.", labels, registry=registry)
        self._shadow_null_agreement = Gauge("asr_shadow_null_agreement", "Share of compared clips on which the two "
                                            "models agree about there being text.", labels, registry=registry)
        self._rollback_active = Gauge("asr_deploy_auto_rollback", "1 after an automatic rollback of this canary, "
                                      "until the next deployment change.", labels, registry=registry)

    # -- what the servicer and monitoring read -----------------------------------------------------------

    @property
    def primary(self) -> Recognizer | None:
        """The recognizer that answers default requests, once one is loaded."""
        served = self._models.get(self._primary or "")
        return served.recognizer if served else None

    def recognizers(self) -> list[Recognizer]:
        """Every loaded recognizer, the primary first (what ListModels and the gauges report)."""
        order = sorted(self._models.values(), key=lambda m: (m.model_id != self._primary, m.loaded_at))
        return [m.recognizer for m in order]

    @property
    def last_rollback(self) -> dict[str, Any] | None:
        """The last automatic rollback (model, step, guards, reason), until the next deployment change."""
        return self._last_rollback

    def role_of(self, model_id: str) -> Role:
        """The role a loaded model has now."""
        if model_id == self._primary:
            return "primary"
        if self._canary is not None and self._canary.model_id == model_id:
            return "canary"
        if self._shadow is not None and self._shadow.model_id == model_id:
            return "shadow"
        return "standby"

    def route(self, model_id: str, client_key: str) -> Route:
        """The recognizer for a request naming `model_id` ("" for the default) from the client `client_key`.

        UnavailableError while draining or before any model is loaded; UnknownModelError naming what is
        served when `model_id` is neither a loaded model's id nor its version.
        """
        if self._draining:
            raise UnavailableError("server: draining for shutdown; retry on another server")
        primary = self._models.get(self._primary or "")
        if primary is None:
            raise UnavailableError("server: the model is still loading; retry shortly")
        if model_id:
            served = self._find(model_id)
            if served is None:
                listed = ", ".join(f"{m.model_id} version {m.recognizer.info.model_version}"
                                   for m in self._models.values())
                raise UnknownModelError(f"config.model_id: {model_id!r} is not served here (served: {listed})")
            return Route(recognizer=served.recognizer, model_id=served.model_id, role=self.role_of(served.model_id))
        canary = self._canary
        if canary is not None and self._bucket(client_key, canary.rollout) < canary.percent:
            served = self._models[canary.model_id]
            return Route(recognizer=served.recognizer, model_id=served.model_id, role="canary",
                         rollout=canary.rollout)
        return Route(recognizer=primary.recognizer, model_id=primary.model_id, role="primary",
                     rollout=canary.rollout if canary is not None else None)

    def _find(self, name: str) -> ServedModel | None:
        served = self._models.get(name)
        if served is not None:
            return served
        return next((m for m in self._models.values() if m.recognizer.info.model_version == name), None)

    @staticmethod
    def _bucket(client_key: str, rollout: int) -> float:
        """The client's place in [0, 100) for this rollout: the same client, the same side, for the whole ramp."""
        digest = hashlib.blake2b(f"{rollout}:{client_key}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 * 100.0

    # -- what the servicer reports back ------------------------------------------------------------------

    def answered(self, route: Route, result: RecognitionResult, clip: DecodedClip, *, request_id: str,
                 context: str = "", language: str = "", vad: VadStats | None = None, kept: Kept = Kept()) -> None:
        """A routed request's result: counted for the canary's guards, and offered to the shadow."""
        canary = self._canary
        if canary is not None and route.rollout == canary.rollout:
            side = canary.canary if route.role == "canary" else canary.primary
            side.add_result(result)
            if route.role == "canary":
                self._canary_answered(canary)
        if route.role == "primary" and self._shadow is not None:
            self._offer_shadow(route, result, clip, request_id=request_id, context=context, language=language,
                               vad=vad, kept=kept)

    def failed(self, route: Route) -> None:
        """A routed request the model failed (an exception from the engine)."""
        canary = self._canary
        if canary is not None and route.rollout == canary.rollout:
            (canary.canary if route.role == "canary" else canary.primary).add_error()
            if route.role == "canary":
                self._canary_answered(canary)

    # -- loading -------------------------------------------------------------------------------------------

    async def load(self, spec: ModelSpec, *, as_primary: bool | None = None) -> ServedModel:
        """Load, warm up and add the model `spec` names: as the primary with `as_primary`, as standby with
        False, and with None as the primary only when there is none yet. DeploymentError for an id or version
        already loaded; ConfigError for a model that cannot be loaded; either way, nothing changes."""
        async with self._load_lock:
            if spec.model_id and spec.model_id in self._models:
                raise DeploymentError(f"load: a model with id {spec.model_id!r} is loaded already; unload it first "
                                      "or load under another id (--id)")
            before = resident_memory_bytes()
            started = time.perf_counter()
            try:
                engine = await asyncio.to_thread(self._open_engine, spec)
            except ConfigError:
                raise
            except Exception as exc:  # the engine library's own errors: a corrupt model, no memory, ...
                raise ConfigError(f"load: cannot load {spec.source!r} ({type(exc).__name__}: {exc})") from exc
            model_id = spec.model_id or engine.info.model_id
            if not spec.model_id and not valid_model_id(model_id):
                engine.close()
                raise ConfigError(f"load: the model's own id {model_id[:80]!r} is not 1-64 letters, digits and "
                                  "_.+-; give it one (--id)")
            twin = self._find(engine.info.model_version)
            if model_id in self._models or twin is not None:
                engine.close()
                raise DeploymentError(
                    f"load: a model with id {model_id!r} is loaded already; unload it first or load under another "
                    "id (--id)" if model_id in self._models or twin is None else
                    f"load: {spec.source!r} is {engine.info.model_version}, loaded already as {twin.model_id}; "
                    "a version is served once (a re-converted model has a version of its own)")
            served = ServedModel(model_id=model_id, spec=with_model_id(spec, model_id),
                                 recognizer=Recognizer(engine, self._config, role="standby", observers=self._observers,
                                                       model_id=model_id),
                                 load_s=time.perf_counter() - started, provenance=read_provenance(spec.source))
            after = resident_memory_bytes()
            served.rss_added_bytes = after - before if before and after else None
            self._models[model_id] = served
            if as_primary or (as_primary is None and self._primary is None):
                self._previous, self._primary = self._primary, model_id
                served.recognizer.role = "primary"
            self._event("load", f"{model_id} ({engine.info.model_version}) from {spec.source!r} in "
                        f"{served.load_s:.1f} s" + (f", faults {spec.faults.label()}" if spec.faults.active else ""))
            self._changed()
            return served

    def _open_engine(self, spec: ModelSpec) -> Engine:
        """Load and warm up (in a worker thread): the first real clip must not pay for the model's first call."""
        options = dataclasses.replace(self._config.engine, model=spec.source, engine=spec.engine or
                                      self._config.engine.engine)
        engine = self._engine_factory(options)
        warm_up = getattr(engine, "warm_up", None)  # an engine with nothing to warm (a test's fake) has none
        try:
            if warm_up is not None:
                warm_up()
        except Exception:
            engine.close()
            raise
        return FaultyEngine(engine, spec.faults) if spec.faults.active else engine

    async def unload(self, model_id: str) -> None:
        """Release a standby model (its requests in flight finish first). DeploymentError for the primary, a
        running canary or shadow."""
        served = self._require(model_id, "unload")
        role = self.role_of(served.model_id)
        if role != "standby":
            hint = {"primary": "switch to another model first", "canary": "promote or roll back the canary first",
                    "shadow": "stop the shadow first (asr deploy shadow --stop)"}[role]
            raise DeploymentError(f"unload: {served.model_id} is the {role}; {hint}")
        del self._models[served.model_id]
        if self._previous == served.model_id:
            self._previous = None
        self._event("unload", served.model_id)
        self._changed()
        await asyncio.to_thread(served.recognizer.close, wait=True)

    # -- traffic policies ------------------------------------------------------------------------------

    def switch(self, model_id: str) -> None:
        """Blue/green: make `model_id` the primary at once; the old primary stays loaded (standby) for rollback."""
        served = self._require(model_id, "switch")
        if served.model_id == self._primary:
            raise DeploymentError(f"switch: {served.model_id} is the primary already")
        if self._canary is not None:
            raise DeploymentError(f"switch: a canary of {self._canary.model_id} is running; promote it or roll it "
                                  "back first")
        if self._shadow is not None and self._shadow.model_id == served.model_id:
            self._stop_shadow("switched to the shadow model")
        self._set_primary(served.model_id)
        self._event("switch", f"primary is {served.model_id} (was {self._previous})")
        self._changed()

    def start_canary(self, model_id: str, steps: tuple[float, ...] | None = None) -> None:
        """Start ramping `model_id` up on default traffic, guarded (see the module docstring)."""
        served = self._require(model_id, "canary")
        if served.model_id == self._primary:
            raise DeploymentError(f"canary: {served.model_id} is the primary; a canary is another model, tried "
                                  "against it")
        if self._canary is not None:
            raise DeploymentError(f"canary: a canary of {self._canary.model_id} is running already; promote it or "
                                  "roll it back first")
        steps = steps or self._options.canary_steps
        if not steps or any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)) or steps[-1] != 100:
            raise DeploymentError(f"canary: steps {list(steps)} must be increasing percents in (0, 100] ending at 100")
        if self._shadow is not None and self._shadow.model_id == served.model_id:
            self._stop_shadow("the shadow model became the canary")
        self._begin_canary(served.model_id, steps, step=0)
        self._event("canary", f"{served.model_id} at {steps[0]:g} % (steps {', '.join(f'{s:g}' for s in steps)})")
        self._changed()

    def _begin_canary(self, model_id: str, steps: tuple[float, ...], *, step: int) -> None:
        self._rollouts += 1
        size = self._options.guard_window
        self._canary = _Canary(model_id=model_id, rollout=self._rollouts, steps=steps, step=step,
                               step_started_at=self._clock(), canary=SideWindow(size), primary=SideWindow(size))
        self._canary.readings = judge(self._canary.canary, self._canary.primary, self._guard_options)  # no data
        self._models[model_id].recognizer.role = "canary"
        self._canary_percent.labels(self._version(model_id), "canary").set(steps[step])
        self._clear_rollback()

    def promote(self) -> None:
        """Make the running canary the primary now (without waiting for the rest of its ramp)."""
        if self._canary is None:
            raise DeploymentError("promote: no canary is running (start one with `asr deploy canary MODEL`)")
        self._promote("operator")

    def _promote(self, by: str) -> None:
        canary = self._canary
        assert canary is not None
        self._end_canary()
        self._set_primary(canary.model_id)
        self._promotions.labels(self._version(canary.model_id), "canary").inc()
        self._event("promote", f"{canary.model_id} is the primary ({by}; was {self._previous})")
        logger.warning("deployment: canary %s promoted to primary (%s)", canary.model_id, by)
        self._changed()

    def rollback(self, reason: str = "operator") -> str:
        """Undo the last change: end a running canary, else make the previous primary primary again. Returns
        what was done. DeploymentError when there is nothing to roll back to."""
        if self._canary is not None:
            model_id = self._canary.model_id
            self._end_canary()
            self._rollbacks.labels(self._version(model_id), "canary", reason.split(" ")[0]).inc()
            done = f"canary {model_id} rolled back ({reason}); {self._primary} serves all default traffic"
        elif self._previous is not None and self._previous in self._models:
            was = self._primary
            self._set_primary(self._previous)
            self._rollbacks.labels(self._version(was or ""), "primary", reason.split(" ")[0]).inc()
            done = f"primary is {self._primary} again (was {was}; {reason})"
        else:
            raise DeploymentError("rollback: nothing to roll back to (no canary running and no previous primary "
                                  "loaded)")
        self._event("rollback", done)
        self._changed()
        return done

    def set_shadow(self, model_id: str | None, sample: float | None = None) -> None:
        """Mirror a sample of the primary's clips to `model_id` (None: stop the shadow)."""
        if model_id is None:
            if self._shadow is None:
                raise DeploymentError("shadow: no shadow is running")
            self._stop_shadow("operator")
            self._changed()
            return
        served = self._require(model_id, "shadow")
        role = self.role_of(served.model_id)
        if role in ("primary", "canary"):
            raise DeploymentError(f"shadow: {served.model_id} is the {role}; a shadow is another model, compared "
                                  "with the primary")
        sample = self._options.shadow_sample if sample is None else sample
        if not 0 < sample <= 1:
            raise DeploymentError(f"shadow: sample {sample} is not a share in (0, 1]")
        if self._shadow is not None:
            self._stop_shadow(f"replaced by {served.model_id}")
        primary = self.primary
        assert primary is not None
        self._shadow = _Shadow(model_id=served.model_id, comparisons=ShadowComparisons(
            model_id=served.model_id, model_version=served.recognizer.info.model_version,
            primary_version=primary.info.model_version, sample=sample))
        served.recognizer.role = "shadow"
        self._event("shadow", f"{served.model_id} gets {sample:.0%} of the primary's clips, when a worker is free")
        self._changed()

    def _stop_shadow(self, why: str) -> None:
        shadow = self._shadow
        if shadow is None:
            return
        self._shadow = None
        if shadow.model_id in self._models:
            self._models[shadow.model_id].recognizer.role = self.role_of(shadow.model_id)
        summary = shadow.comparisons.summary()
        self._event("shadow stopped", f"{shadow.model_id} ({why}): {summary['compared']} clips compared")

    def _set_primary(self, model_id: str) -> None:
        old = self._primary
        self._previous, self._primary = old, model_id
        self._models[model_id].recognizer.role = "primary"
        if old is not None and old in self._models:
            self._models[old].recognizer.role = self.role_of(old)
        if self._shadow is not None:
            self._shadow.comparisons.primary_version = self._models[model_id].recognizer.info.model_version
        self._clear_rollback()

    def _version(self, model_id: str) -> str:
        served = self._models.get(model_id)
        return served.recognizer.info.model_version if served is not None else model_id

    def _clear_rollback(self) -> None:
        if self._last_rollback is not None:
            self._rollback_active.labels(self._last_rollback["model_version"], "canary").set(0)
        self._last_rollback = None

    def _end_canary(self) -> None:
        canary = self._canary
        self._canary = None
        if canary is not None:
            self._canary_percent.labels(self._version(canary.model_id), "canary").set(0)
        if canary is not None and canary.model_id in self._models:
            self._models[canary.model_id].recognizer.role = self.role_of(canary.model_id)

    def _require(self, model_id: str, command: str) -> ServedModel:
        served = self._find(model_id) if model_id else None
        if served is None:
            loaded = ", ".join(self._models) or "none"
            raise NotLoadedError(f"{command}: no model {model_id!r} is loaded (loaded: {loaded}); "
                                  "load it first (asr deploy load SOURCE --id ID)")
        return served

    # -- the canary's ramp and guards --------------------------------------------------------------------

    def _canary_answered(self, canary: _Canary) -> None:
        canary.step_answers += 1
        canary.answers_since_look += 1
        if canary.answers_since_look >= _GUARD_EVERY:
            canary.answers_since_look = 0
            canary.looked_at = canary.canary.total
            canary.readings = judge(canary.canary, canary.primary, self._guard_options)
            failed = [r for r in canary.readings if r.verdict == "fail"]
            if failed:
                self._auto_rollback(canary, failed)
                return
        held = self._clock() - canary.step_started_at
        # a step moves on only on evidence: every guard has judged (both sides past guard_min_requests) and passed
        judged = all(r.verdict == "pass" for r in canary.readings)
        if canary.step_answers >= self._options.canary_step_requests and held >= self._options.canary_step_s and judged:
            if canary.step + 1 >= len(canary.steps):
                self._promote(f"passed {len(canary.steps)} steps")
                return
            canary.step += 1
            canary.step_answers = 0
            canary.step_started_at = self._clock()
            self._canary_percent.labels(self._version(canary.model_id), "canary").set(canary.percent)
            self._event("canary step", f"{canary.model_id} at {canary.percent:g} %")
            self._changed()

    def _auto_rollback(self, canary: _Canary, failed: list[GuardReading]) -> None:
        reason = "; ".join(r.describe() for r in failed)
        logger.warning("deployment: canary %s rolled back automatically at %g %% after %d canary answers: %s",
                       canary.model_id, canary.percent, canary.canary.total, reason)
        self.rollback(f"{failed[0].name} guard failed: {reason}")
        version = self._version(canary.model_id)
        self._last_rollback = {"model_id": canary.model_id, "model_version": version, "percent": canary.percent,
                               "canary_answers": canary.canary.total, "guards": [r.name for r in failed],
                               "reason": reason, "at": time.time()}
        self._rollback_active.labels(version, "canary").set(1)

    # -- the shadow ----------------------------------------------------------------------------------------

    def _offer_shadow(self, route: Route, result: RecognitionResult, clip: DecodedClip, *, request_id: str,
                      context: str, language: str, vad: VadStats | None, kept: Kept) -> None:
        shadow = self._shadow
        assert shadow is not None
        comparisons = shadow.comparisons
        if self._random.random() >= comparisons.sample:
            return
        comparisons.offered += 1
        served = self._models.get(shadow.model_id)
        workers = max(1, self._config.engine.num_workers)
        busy = sum(m.recognizer.in_flight for m in self._models.values() if m.model_id != shadow.model_id)
        if shadow.busy or served is None or busy >= workers or self._draining:
            comparisons.dropped_busy += 1
            self._shadow_pairs.labels(comparisons.model_version, "shadow", "dropped_busy").inc()
            return
        shadow.busy = True
        task = asyncio.get_running_loop().create_task(self._run_shadow(
            shadow, served.recognizer, route, result, clip, request_id=request_id, context=context, language=language,
            vad=vad, kept=kept), name="asr-shadow")
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _run_shadow(self, shadow: _Shadow, recognizer: Recognizer, route: Route, primary: RecognitionResult,
                          clip: DecodedClip, *, request_id: str, context: str, language: str, vad: VadStats | None,
                          kept: Kept) -> None:
        comparisons = shadow.comparisons
        try:
            result = await recognizer.recognize(clip, clip_id=primary.clip_id, received_at=time.perf_counter(),
                                                vad=vad, context=context, language=language, role="shadow",
                                                background=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the shadow's failure is its own: counted, never the primary's
            comparisons.failed += 1
            self._shadow_pairs.labels(comparisons.model_version, "shadow", "failed").inc()
            logger.info("shadow %s failed on a clip: %s", shadow.model_id, exc)
            return
        finally:
            shadow.busy = False
        pcm = ((clip.samples * 32767.0).clip(-32768, 32767).astype("<i2").tobytes()
               if kept.audio and kept.text else None)
        # normalising and aligning two transcripts costs a millisecond or two: off the event loop
        await asyncio.to_thread(comparisons.add, primary, result, request_id=request_id, keep_text=kept.text, pcm=pcm)
        labels = (comparisons.model_version, "shadow")
        self._shadow_pairs.labels(*labels, "compared").inc()
        summary = await asyncio.to_thread(comparisons.summary)
        if summary["wer_vs_primary"] is not None:
            self._shadow_wer.labels(*labels).set(summary["wer_vs_primary"])
        if summary["null_agreement"] is not None:
            self._shadow_null_agreement.labels(*labels).set(summary["null_agreement"])

    def shadow_comparisons(self) -> ShadowComparisons | None:
        """The running shadow's comparisons (None without a shadow)."""
        return self._shadow.comparisons if self._shadow is not None else None

    # -- state -----------------------------------------------------------------------------------------------

    def _event(self, action: str, detail: str) -> None:
        self.events.append({"at": time.time(), "action": action, "detail": detail})
        logger.info("deployment: %s: %s", action, detail)

    def _changed(self) -> None:
        """Write the state file (when one is set): the change is kept before it is answered."""
        path = self._options.state_file
        if path is None:
            return
        try:
            write_state(path, self.persistent_state())
        except OSError as exc:  # serving goes on; the operator is told, loudly, that a restart would forget
            logger.error("deployment: cannot write the state file %s (%s); a restart would not restore this state",
                         path, exc.strerror or exc)
            self._event("state not saved", f"{path}: {exc.strerror or exc}")

    def persistent_state(self) -> DeploymentState:
        """What a restarted server needs to come back as it was."""
        canary = self._canary
        return DeploymentState(
            models=[m.spec for m in sorted(self._models.values(), key=lambda m: m.loaded_at)],
            primary=self._primary, previous=self._previous,
            canary={"model_id": canary.model_id, "steps": list(canary.steps), "step": canary.step}
            if canary is not None else None,
            shadow={"model_id": self._shadow.model_id, "sample": self._shadow.comparisons.sample}
            if self._shadow is not None else None)

    async def restore(self, fallback: ModelSpec) -> None:
        """Load what the state file names (or `fallback` alone, with the config's extra models, without one),
        the primary first so that the server serves as soon as it can. A model of the state that no longer
        loads is logged and left out; if the primary is one, `fallback` serves instead."""
        path = self._options.state_file
        state = read_state(path) if path is not None else None
        if state is None:
            await self.load(fallback, as_primary=True)
            faults = {model_id.strip(): spec for model_id, _, spec in
                      (item.partition(":") for item in self._options.faults)}
            for text in self._options.models:
                try:
                    spec = ModelSpec.parse(text, faults.get(text.partition("=")[0].strip()) if "=" in text else None)
                    await self.load(spec)
                except (ConfigError, DeploymentError) as exc:
                    logger.error("deployment: model %r of [deployment] models not loaded: %s", text, exc)
            return
        logger.info("deployment: restoring %s (%d model(s), primary %s)", path, len(state.models), state.primary)
        specs = sorted(state.models, key=lambda s: s.model_id != state.primary)
        for spec in specs:
            try:
                await self.load(spec, as_primary=spec.model_id == state.primary)  # the others: standby
            except (ConfigError, DeploymentError) as exc:
                logger.error("deployment: model %s from %s not restored: %s", spec.model_id, path, exc)
        if self._primary is None:
            twin = next((m for m in self._models.values() if m.spec.source == fallback.source), None)
            logger.error("deployment: the primary %s of %s did not load; serving %s instead", state.primary, path,
                         twin.model_id if twin is not None else fallback.source)
            if twin is not None:  # the configured model is loaded already, under the state's id
                self._set_primary(twin.model_id)
            else:
                await self.load(fallback, as_primary=True)
        if state.previous in self._models and state.previous != self._primary:
            self._previous = state.previous
        else:
            self._previous = None
        canary = state.canary
        if canary is not None and canary["model_id"] in self._models and canary["model_id"] != self._primary:
            steps = tuple(float(s) for s in canary["steps"])
            step = min(int(canary["step"]), len(steps) - 1)
            await asyncio.to_thread(prepare_guards)  # off the event loop (see _guards.prepare)
            self._begin_canary(canary["model_id"], steps, step=step)
            self._event("canary", f"{canary['model_id']} resumed at {steps[step]:g} % (restored; its guards start "
                        "over)")
        if state.shadow is not None and state.shadow["model_id"] in self._models:
            with contextlib.suppress(DeploymentError):
                self.set_shadow(state.shadow["model_id"], float(state.shadow["sample"]))
        self._changed()

    def status(self) -> dict[str, Any]:
        """The whole state, as `GET /api/deploy` and `asr deploy status` show it."""
        canary = self._canary
        canary_json: dict[str, Any] | None = None
        if canary is not None:
            canary_json = {
                "model_id": canary.model_id, "rollout": canary.rollout, "percent": canary.percent,
                "steps": list(canary.steps), "step": canary.step, "step_answers": canary.step_answers,
                "step_requests": self._options.canary_step_requests,
                "step_held_s": round(self._clock() - canary.step_started_at, 1), "step_s": self._options.canary_step_s,
                "started_at": canary.started_at, "canary": canary.canary.figures(), "primary": canary.primary.figures(),
                "guards": [r.to_json() for r in canary.readings], "guards_at_answers": canary.looked_at,
            }
        return {
            "primary": self._primary, "previous": self._previous,
            "models": [m.to_json(self.role_of(m.model_id)) for m in
                       sorted(self._models.values(), key=lambda m: m.loaded_at)],
            "canary": canary_json,
            "shadow": self._shadow.comparisons.summary() if self._shadow is not None else None,
            "last_rollback": self._last_rollback,
            "options": {"canary_steps": list(self._options.canary_steps),
                        "canary_step_requests": self._options.canary_step_requests,
                        "canary_step_s": self._options.canary_step_s, "guard_window": self._options.guard_window,
                        "guard_min_requests": self._options.guard_min_requests, "guard_z": self._options.guard_z,
                        "state_file": self._options.state_file},
            "events": list(self.events)[-20:],
        }

    # -- shutdown ----------------------------------------------------------------------------------------------

    def drain(self) -> None:
        """Refuse new requests from now on (in-flight ones finish; shadow work is dropped)."""
        self._draining = True
        for task in list(self._shadow_tasks):
            task.cancel()

    async def close(self) -> None:
        """Release every model (after `drain`; waits for their workers)."""
        for served in list(self._models.values()):
            await asyncio.to_thread(served.recognizer.close, wait=True)
