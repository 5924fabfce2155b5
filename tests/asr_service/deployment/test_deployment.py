"""The deployment: loading and unloading at run time, blue/green, canary with guards, shadow, rollback, state.

Fake engines stand in for models here (accuracy and real models are in tests/e2e/test_deployment.py):
each source name is a model with a version of its own, and what it says and how fast is set per test.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from asr_service.audio import AudioFormat, DecodedClip, decode_clip
from asr_service.config import DeploymentOptions, ServerConfig
from asr_service.deployment import Deployment, FaultOptions, Kept, ModelSpec, NotLoadedError, read_state
from asr_service.engines import EngineInfo, EngineOptions, Transcription
from asr_service.errors import ConfigError, DeploymentError, ModelFailedError, UnavailableError, UnknownModelError
from asr_service.recognizer import RecognitionResult
from tests.fakes import FakeEngine, tone_bytes


class Model(FakeEngine):
    """A fake model named by its source: version "<source>-1"; says `text` (empty at `empty_every`-th calls)."""

    def __init__(self, source: str, *, text: str = "turn left at the lights", confidence: float = 0.8,
                 gate: threading.Event | None = None) -> None:
        super().__init__(text=text, confidence=confidence)
        self.source = source
        self.gate = gate
        self.started = threading.Semaphore(0)
        self.closed = False

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id=f"whisper-{self.source}", model_version=f"{self.source}-1", engine="test",
                          config_hash="0")

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        self.started.release()
        if self.gate is not None and not self.gate.wait(30):
            raise TimeoutError("test gate never opened")
        return super().transcribe(audio, context=context, language=language)

    def close(self) -> None:
        self.closed = True


class Models:
    """The engine factory of a test: one `Model` per source; "broken" fails to load."""

    def __init__(self) -> None:
        self.made: dict[str, Model] = {}
        self.settings: dict[str, dict[str, Any]] = {}

    def __call__(self, options: EngineOptions) -> Model:
        if options.model == "broken":
            raise ValueError("model.bin: not a CTranslate2 model")
        model = Model(options.model, **self.settings.get(options.model, {}))
        self.made[options.model] = model
        return model


def clip(seconds: float = 1.0) -> DecodedClip:
    return decode_clip(tone_bytes(seconds, 0.3), AudioFormat(sample_rate_hz=16_000, channels=1),
                       ServerConfig().clip_limits)


def config(tmp_path: Path | None = None, **deployment: Any) -> ServerConfig:
    options = {"canary_steps": (10.0, 50.0, 100.0), "canary_step_requests": 20, "canary_step_s": 0.0,
               "guard_min_requests": 30, "guard_window": 300, **deployment}
    if tmp_path is not None:
        options.setdefault("state_file", str(tmp_path / "deployment.json"))
    return ServerConfig(engine=EngineOptions(num_workers=2, cpu_threads=1), max_concurrent_requests=64,
                        deployment=DeploymentOptions(**options))


async def ask(deployment: Deployment, client: str, model_id: str = "", *, kept: Kept | None = None,
              ) -> RecognitionResult:
    """One request as the servicer makes it: route, recognize, report back."""
    route = deployment.route(model_id, client)
    decoded = clip()
    try:
        result = await route.recognizer.recognize(decoded, clip_id=client, received_at=0.0, role=route.role)
    except ModelFailedError:
        deployment.failed(route)
        raise
    deployment.answered(route, result, decoded, request_id=client, kept=kept or Kept())
    return result


def run(scenario: Callable[[Deployment, Models], Any], cfg: ServerConfig | None = None,
        models: Models | None = None) -> Any:
    """Run `scenario(deployment, models)` on an event loop with tiny.en-like "a" as the primary."""
    models = models or Models()

    async def main() -> Any:
        deployment = Deployment(cfg or config(), engine_factory=models, seed=7)
        await deployment.restore(ModelSpec(source="a"))
        try:
            return await scenario(deployment, models)
        finally:
            deployment.drain()
            await deployment.close()

    return asyncio.run(main())


def test_requests_name_a_model_by_id_or_version_or_get_the_primary() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        assert (await ask(d, "c1")).model.model_version == "a-1"
        result = await ask(d, "c1", "whisper-b")
        assert result.model.model_version == "b-1" and result.role == "standby"
        assert (await ask(d, "c1", "b-1")).model.model_id == "whisper-b"
        with pytest.raises(UnknownModelError, match=r"'large' is not served here \(served: whisper-a version a-1, "
                           r"whisper-b version b-1\)"):
            d.route("large", "c1")
        assert [r.info.model_id for r in d.recognizers()] == ["whisper-a", "whisper-b"]
        d.drain()
        with pytest.raises(UnavailableError, match="draining"):
            d.route("", "c1")

    run(scenario)


def test_nothing_is_routed_before_the_first_model_is_loaded() -> None:
    deployment = Deployment(config(), engine_factory=Models())
    assert deployment.primary is None and deployment.recognizers() == []
    with pytest.raises(UnavailableError, match="still loading"):
        deployment.route("", "c1")


def test_a_load_that_fails_or_clashes_changes_nothing() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        before = d.status()
        with pytest.raises(ConfigError, match=r"cannot load 'broken' \(ValueError: model.bin: not a CTranslate2"):
            await d.load(ModelSpec(source="broken"))
        with pytest.raises(DeploymentError, match="a model with id 'whisper-a' is loaded already"):
            await d.load(ModelSpec(source="a"))
        with pytest.raises(DeploymentError, match="'a' is a-1, loaded already as whisper-a"):
            await d.load(ModelSpec(source="a", model_id="again"))
        after = d.status()
        assert after["models"] == before["models"] and after["primary"] == "whisper-a"
        # the faulty copy of the same model is another version: it loads beside it
        faulty = await d.load(ModelSpec(source="a", model_id="a-faulty", faults=FaultOptions(empty_rate=0.5)))
        assert faulty.recognizer.info.model_version == "a-1+faults-empty0.5"

    run(scenario)


def test_admin_commands_the_state_does_not_allow_are_refused_and_change_nothing() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        before = d.persistent_state()
        refusals: list[tuple[Callable[[], Any], type[Exception], str]] = [
            (lambda: d.switch("nope"), NotLoadedError, "no model 'nope' is loaded"),
            (lambda: d.switch("whisper-a"), DeploymentError, "whisper-a is the primary already"),
            (lambda: d.start_canary("whisper-a"), DeploymentError, "is the primary; a canary is another model"),
            (lambda: d.start_canary("whisper-b", (50.0, 10.0, 100.0)), DeploymentError, "increasing percents"),
            (lambda: d.promote(), DeploymentError, "no canary is running"),
            (lambda: d.set_shadow("whisper-a"), DeploymentError, "is the primary; a shadow is another model"),
            (lambda: d.set_shadow(None), DeploymentError, "no shadow is running"),
            (lambda: d.set_shadow("whisper-b", 1.5), DeploymentError, r"sample 1.5 is not a share"),
            (lambda: d.rollback(), DeploymentError, "nothing to roll back to"),
        ]
        for command, error, message in refusals:
            with pytest.raises(error, match=message):
                command()
            assert d.persistent_state() == before
        with pytest.raises(DeploymentError, match="whisper-a is the primary; switch to another model first"):
            await d.unload("whisper-a")
        d.start_canary("whisper-b")
        with pytest.raises(DeploymentError, match="whisper-b is the canary; promote or roll back"):
            await d.unload("whisper-b")
        with pytest.raises(DeploymentError, match="a canary of whisper-b is running"):
            d.switch("whisper-b")

    run(scenario)


def test_blue_green_switch_is_atomic_in_flight_requests_finish_where_they_started_and_rollback_is_instant() -> None:
    gate = threading.Event()
    models = Models()
    models.settings["a"] = {"gate": gate}

    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        in_flight = asyncio.ensure_future(ask(d, "early"))
        await asyncio.to_thread(models.made["a"].started.acquire)  # warm-up is not called on fakes
        d.switch("whisper-b")
        assert (await ask(d, "late")).model.model_version == "b-1"
        gate.set()
        early = await in_flight
        assert early.model.model_version == "a-1" and early.role == "primary"  # the role it was routed under
        assert d.role_of("whisper-a") == "standby" and d.status()["previous"] == "whisper-a"
        done = d.rollback()
        assert done.startswith("primary is whisper-a again (was whisper-b")
        assert (await ask(d, "after")).model.model_version == "a-1"
        await d.unload("whisper-b")
        assert models.made["b"].closed and [r.info.model_id for r in d.recognizers()] == ["whisper-a"]

    run(scenario, models=models)


def test_the_canary_split_is_sticky_per_client_and_near_its_percent() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        d.start_canary("whisper-b", (25.0, 100.0))
        sides = {f"client-{i}": d.route("", f"client-{i}").role for i in range(2000)}
        share = sum(role == "canary" for role in sides.values()) / len(sides)
        assert 0.22 < share < 0.28
        assert all(d.route("", key).role == role for key, role in list(sides.items())[:200])  # sticky

    run(scenario)


def test_a_canary_that_answers_empty_is_rolled_back_by_the_null_rate_guard() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="a", model_id="bad", faults=FaultOptions(empty_rate=0.3, seed=3)))
        d.start_canary("bad")
        i = 0
        while d.status()["canary"] is not None:
            await ask(d, f"client-{i}")
            i += 1
            assert i < 5000
        last = d.last_rollback
        assert last is not None and last["model_id"] == "bad" and "null_rate" in last["guards"]
        assert last["canary_answers"] <= 200
        assert d.status()["primary"] == "whisper-a" and d.role_of("bad") == "standby"
        assert d.events[-1]["action"] == "rollback" and "null_rate guard failed" in d.events[-1]["detail"]

    run(scenario)


def test_a_failing_canary_is_rolled_back_by_the_error_rate_guard() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="a", model_id="crashy", faults=FaultOptions(error_rate=0.2, seed=1)))
        d.start_canary("crashy")
        failures = 0
        for i in range(5000):
            if d.status()["canary"] is None:
                break
            try:
                await ask(d, f"client-{i}")
            except ModelFailedError:
                failures += 1
        last = d.last_rollback
        assert failures > 0 and last is not None and "error_rate" in last["guards"]

    run(scenario)


def test_a_healthy_canary_ramps_through_its_steps_and_is_promoted() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        d.start_canary("whisper-b")
        seen: list[float] = []
        for i in range(5000):
            canary = d.status()["canary"]
            if canary is None:
                break
            if not seen or seen[-1] != canary["percent"]:
                seen.append(canary["percent"])
            await ask(d, f"client-{i}")
        assert seen == [10.0, 50.0, 100.0]
        assert d.status()["primary"] == "whisper-b" and d.status()["previous"] == "whisper-a"
        assert d.last_rollback is None
        assert d.rollback().startswith("primary is whisper-a again")  # the old primary stayed warm

    run(scenario)


def test_the_shadow_sees_primary_clips_only_with_a_free_worker_and_never_answers_a_client() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        models.settings["b"] = {"text": "turn left at the light"}
        await d.load(ModelSpec(source="b"))
        d.set_shadow("whisper-b")
        for i in range(10):
            result = await ask(d, f"c{i}", kept=Kept(text=i % 2 == 0, audio=i % 4 == 0))
            assert result.model.model_version == "a-1" and result.role == "primary"
            while d._shadow_tasks:  # the shadow runs after the answer, one clip at a time: let it finish
                await asyncio.sleep(0.005)
        summary = d.status()["shadow"]
        assert summary["offered"] == 10 and summary["compared"] == 10 and summary["dropped_busy"] == 0
        assert summary["wer_vs_primary"] == pytest.approx(1 / 5)  # "lights" vs "light", in 5 words
        comparisons = d.shadow_comparisons()
        assert comparisons is not None
        kept = comparisons.worst()
        assert len(kept) == 5 and summary["disagreeing_not_kept"] == 5  # only consented clips are kept
        assert sum(p.pcm is not None for p in kept) == 3  # and their audio only with audio consent
        assert "LIGHTS" in kept[0].aligned[0] and "LIGHT" in kept[0].aligned[1]

    run(scenario)


def test_shadow_work_is_dropped_while_the_primary_is_busy() -> None:
    gate = threading.Event()
    models = Models()
    models.settings["a"] = {"gate": gate}

    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        d.set_shadow("whisper-b")
        gate.set()
        result = await ask(d, "idle")  # both workers free: the shadow takes it
        for _ in range(500):
            if d.status()["shadow"]["compared"] == 1:
                break
            await asyncio.sleep(0.01)
        assert d.status()["shadow"]["compared"] == 1
        gate.clear()
        primary = models.made["a"]
        while primary.started.acquire(blocking=False):  # the warm-up's and the first clip's starts
            pass
        busy = [asyncio.ensure_future(ask(d, f"busy-{i}")) for i in range(2)]  # both workers held
        for _ in busy:
            await asyncio.to_thread(primary.started.acquire)
        d.answered(d.route("", "late"), result, clip(), request_id="late", kept=Kept())  # offered now: dropped
        summary = d.status()["shadow"]
        assert summary["offered"] == 2 and summary["dropped_busy"] == 1 and summary["compared"] == 1
        gate.set()
        await asyncio.gather(*busy)

    run(scenario, models=models)


def test_the_state_file_brings_back_models_primary_canary_and_shadow(tmp_path: Path) -> None:
    cfg = config(tmp_path)

    async def first(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        await d.load(ModelSpec(source="c", model_id="cee", faults=FaultOptions(latency_ms=5)))
        d.switch("whisper-b")
        d.start_canary("whisper-a", (10.0, 50.0, 100.0))
        assert d._canary is not None  # the ramp moves with traffic; put it at its second step here
        d._canary.step = 1
        d._changed()
        d.set_shadow("cee", 0.5)

    run(first, cfg)
    saved = json.loads((tmp_path / "deployment.json").read_text())
    assert saved["primary"] == "whisper-b" and saved["canary"]["step"] == 1
    assert saved["models"][2] == {"source": "c", "model_id": "cee", "faults": {"latency_ms": 5.0}}

    async def second(d: Deployment, models: Models) -> dict[str, Any]:
        return d.status()

    state = run(second, cfg)
    assert state["primary"] == "whisper-b" and state["previous"] == "whisper-a"
    assert state["canary"]["model_id"] == "whisper-a" and state["canary"]["percent"] == 50.0
    assert state["shadow"]["model_id"] == "cee" and state["shadow"]["sample"] == 0.5
    assert {m["model_id"]: m["role"] for m in state["models"]} == {"whisper-a": "canary", "whisper-b": "primary",
                                                                    "cee": "shadow"}


def test_a_state_file_that_cannot_be_used_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    assert read_state(path) is None
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        read_state(path)
    path.write_text(json.dumps({"version": 1, "models": [{"source": "a", "model_id": "x"}], "primary": "y"}))
    with pytest.raises(ConfigError, match=r"the primary \('y'\) must be one"):
        read_state(path)


def test_a_primary_of_the_state_that_no_longer_loads_falls_back_to_the_configured_model(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (tmp_path / "deployment.json").write_text(json.dumps({
        "version": 1, "models": [{"source": "broken", "model_id": "gone"}, {"source": "b", "model_id": "bee"}],
        "primary": "gone", "previous": None, "canary": None, "shadow": None}))

    async def scenario(d: Deployment, models: Models) -> dict[str, Any]:
        return d.status()

    state = run(scenario, cfg)
    assert [m["model_id"] for m in state["models"]] == ["bee", "whisper-a"] and state["primary"] == "whisper-a"
    # ... and when the configured model is among the state's, under another id, that one serves
    (tmp_path / "deployment.json").write_text(json.dumps({
        "version": 1, "models": [{"source": "broken", "model_id": "gone"}, {"source": "a", "model_id": "ay"}],
        "primary": "gone", "previous": None, "canary": None, "shadow": None}))
    state = run(scenario, cfg)
    assert [m["model_id"] for m in state["models"]] == ["ay"] and state["primary"] == "ay"


def test_fault_options_parse_and_refuse_nonsense() -> None:
    assert FaultOptions.parse("latency_ms=400, empty_rate=0.3") == FaultOptions(latency_ms=400, empty_rate=0.3)
    assert FaultOptions.parse({"error_rate": 0.1}).label() == "err0.1"
    for bad, message in (("latency_ms", "not KEY=VALUE"), ("speed=2", "unknown key"), ("empty_rate=lots", "not a "
                         "number"), ("empty_rate=0.8,error_rate=0.5", "<= 1"), ("latency_ms=-1", ">= 0")):
        with pytest.raises(ConfigError, match=message):
            FaultOptions.parse(bad)
    with pytest.raises(ConfigError, match="not 1-64 letters"):
        ModelSpec.parse("bad id=tiny.en")
    assert ModelSpec.parse("v2=/models/x") == ModelSpec(source="/models/x", model_id="v2")


def test_config_models_load_at_start_as_standby_with_their_faults(caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(models=("b", "bad=c", "gone=broken"), faults=("bad:empty_rate=0.5,seed=2",))

    async def scenario(d: Deployment, models: Models) -> dict[str, Any]:
        return d.status()

    state = run(scenario, cfg)
    roles = {m["model_id"]: (m["role"], m["faults"]) for m in state["models"]}
    assert roles == {"whisper-a": ("primary", {}), "whisper-b": ("standby", {}),
                     "bad": ("standby", {"empty_rate": 0.5, "seed": 2})}
    assert "model 'gone=broken' of [deployment] models not loaded" in caplog.text
    with pytest.raises(ConfigError, match="for a model listed as 'ID=SOURCE'"):
        config(models=("b",), faults=("b:empty_rate=0.5",))


def test_the_ramp_waits_for_the_guards_verdicts_before_a_step() -> None:
    async def scenario(d: Deployment, models: Models) -> None:
        await d.load(ModelSpec(source="b"))
        d.start_canary("whisper-b", (50.0, 100.0))
        i = 0
        while d.status()["canary"]["canary"]["requests"] < 25:  # past canary_step_requests (20), short of 30
            await ask(d, f"client-{i}")
            i += 1
        status = d.status()["canary"]
        assert status["percent"] == 50.0 and {g["verdict"] for g in status["guards"]} == {"no data"}
        while d.status()["canary"] is not None and d.status()["canary"]["percent"] == 50.0:
            await ask(d, f"client-{i}")
            i += 1
        assert d.status()["canary"]["canary"]["requests"] >= 30  # it moved on once the guards had judged

    run(scenario, config(canary_step_requests=20, guard_min_requests=30))


def test_a_model_directory_shows_the_provenance_its_import_recorded(tmp_path: Path) -> None:
    source = tmp_path / "imported"
    source.mkdir()
    (source / "asr_model.json").write_text(json.dumps({"source": "/ckpt/whisper-ft", "checkpoint_sha256": "ab12"}))

    async def scenario(d: Deployment, models: Models) -> dict[str, Any]:
        await d.load(ModelSpec(source=str(source), model_id="ft"))
        return d.status()

    models = Models()
    state = run(scenario, models=models)
    shown = {m["model_id"]: m["provenance"] for m in state["models"]}
    assert shown == {"whisper-a": None, "ft": {"source": "/ckpt/whisper-ft", "checkpoint_sha256": "ab12"}}
