"""`asr demo`: a server with the embedded model on loopback, the shipped recording through the client VAD.

The recording is real speech (`data/jfk.wav`, public domain; see `data/SOURCES.md`); its reference
transcript sits beside it, and the demo prints the reference, the transcript and the WER. Any AUDIO the
user names gets the same treatment when a `.txt` with the same stem sits beside it.

`asr demo --rollout` rehearses a rollout on the same server, as an operator would run it with
`asr deploy` (through the HTTP admin API): under continuous traffic from a few clients, a faulty copy of
the model (30 % of its answers empty) goes out as a canary and its guards roll it back; then a healthy
re-conversion of the model (the same weights, a version of its own) is promoted through the ramp.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import vad
from asr_service.cli._common import (
    add_server_flags,
    add_vad_flags,
    config_from_args,
    fail,
    setup_logging,
    vad_options,
)
from asr_service.cli._transcribe import print_result
from asr_service.errors import AsrError

if TYPE_CHECKING:
    from asr_service.monitoring import WindowSummary

__all__ = ["SAMPLE", "reference_of", "register", "run_rollout", "sample_path"]

SAMPLE = "jfk.wav"  # J.F. Kennedy, 1961 (public domain); its reference transcript is jfk.txt beside it


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo`."""
    parser = subparsers.add_parser(
        "demo",
        help="start a server on loopback and stream the shipped recording through the client VAD",
        description="Start a server with the embedded model on loopback, send a real recording (J.F. Kennedy, "
        "1961, public domain) through the client VAD, print each transcript, the reference, the WER and the "
        "server's summary, and shut down.",
    )
    parser.add_argument("audio", nargs="?", help="audio file to use instead of the shipped recording "
                        "(a .txt with the same stem beside it is taken as its reference)")
    parser.add_argument("--realtime", action="store_true", help="feed the audio at the speed it would be spoken")
    parser.add_argument("--rollout", action="store_true",
                        help="rehearse a rollout instead: under continuous traffic, a faulty canary rolled back "
                        "by its guards, then a healthy one promoted through the ramp (asr deploy, on loopback)")
    add_vad_flags(parser)
    add_server_flags(parser)
    parser.set_defaults(func=run)


def sample_path() -> Path:
    """The recording shipped with the package."""
    return Path(str(resources.files("asr_service") / "data" / SAMPLE))


def reference_of(audio: Path) -> str | None:
    """The reference transcript beside `audio` (same stem, `.txt`), or None when there is none."""
    try:
        text = audio.with_suffix(".txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return " ".join(text.split()) or None


def run(args: argparse.Namespace) -> int:
    """Serve, stream, print each transcript and the server's summary, shut down."""
    from asr_service.client import AsrClient  # the server and gRPC load only when the demo runs
    from asr_service.server import BackgroundServer

    if args.rollout:
        return run_rollout(args)
    path = Path(args.audio) if args.audio else sample_path()
    try:
        options = vad_options(args)
        config = config_from_args(args, host="127.0.0.1", port=0)
        background = BackgroundServer(config)
    except (ValueError, AsrError) as exc:
        return fail(str(exc), 2)
    port, server = background.port, background.server
    started = time.time()
    print(f"starting the server on 127.0.0.1:{port} with model {config.engine.model!r} ...", flush=True)
    try:
        background.start()
    except AsrError as exc:  # the model did not load; start() has shut the server down
        return fail(str(exc))
    try:
        with AsrClient(f"127.0.0.1:{port}") as client:
            client.wait_ready()
            info = client.list_models().models[0]
            print(f"serving {info.model_id} ({info.model_version}); streaming {path} through the client VAD\n")
            texts = []
            for clip in _clips(path, options, realtime=args.realtime):
                result = client.recognize_clip(clip)
                print_result(sys.stdout, path.name, clip, result, as_json=False)
                texts.append(result.text)
    except (vad.VadError, AsrError) as exc:
        return fail(str(exc))
    finally:
        # Everything since the server started: the monitor's recent results keep the last 30 minutes.
        summary = server.monitor.recent.summary(time.time() - started + 1.0)
        background.stop()
    reference = reference_of(path)
    if reference is not None:
        _print_score(reference, " ".join(t for t in texts if t))
    _print_summary(summary, config.budget_ms)
    return 0


def _print_score(reference: str, transcript: str) -> None:
    from asr_service.evaluation.normalizers import DEFAULT_NORMALIZER, get_normalizer
    from asr_service.evaluation.scoring import score

    normalize = get_normalizer(DEFAULT_NORMALIZER)  # the same scoring as `asr eval`
    words = score(normalize(reference), normalize(transcript)).words
    rate = f"{words.rate:.1%}" if words.rate is not None else "n/a (empty reference)"
    print(
        f"\nreference   {reference}"
        f"\ntranscript  {transcript or '<nothing>'}"
        f"\nWER         {rate} ({words.errors} error(s) in {words.reference_length} reference words, "
        f"after the {DEFAULT_NORMALIZER} normaliser, as asr eval scores)"
    )


def _clips(path: Path, options: vad.VadOptions, *, realtime: bool) -> Iterator[vad.Clip]:
    if not realtime:
        yield from vad.iter_file_clips(path, options)
        return
    # Push the audio in 100 ms chunks at the pace of speech, as a microphone would.
    audio = vad.read_audio(path)
    segmenter = vad.Segmenter(options)
    step = vad.SAMPLE_RATE_HZ // 10
    for i in range(0, audio.size, step):
        time.sleep(0.1)
        yield from segmenter.push(audio[i : i + step])
    yield from segmenter.flush()


def _print_summary(s: WindowSummary, budget_ms: float) -> None:
    if not s.requests:
        print("\nserver summary: no requests\nserver stopped cleanly.")
        return
    nulls = ", ".join(f"{k}={v}" for k, v in s.null_reasons.items()) or "none"
    print(
        "\nserver summary:"
        f"\n  requests            {s.requests} ({s.audio_s:.1f} s of audio)"
        f"\n  latency p50 / p95   {s.latency_p50_ms:.0f} ms / {s.latency_p95_ms:.0f} ms"
        f" (budget {budget_ms:.0f} ms, exceeded {s.budget_exceeded} time(s))"
        f"\n  inference p50       {s.inference_p50_ms:.0f} ms; queue wait p95 {s.queue_wait_p95_ms:.1f} ms"
        f"\n  null transcripts    {s.null_rate:.0%} ({nulls})"
        f"\n  full-window fallbacks {s.fallbacks}"
        "\nserver stopped cleanly."
    )


# -- asr demo --rollout ------------------------------------------------------------------------------------

# The rehearsal's policy: the production guards (guard_z 3.5, the default) over smaller windows and
# shorter steps, so that it ends in well under a minute. Smaller windows make the guards harder to
# convince, not easier: with 20 answers a side, 30 % empty answers against a primary that answers
# every clip fails null_rate at 2 empty answers in 20; a copy of the same weights never does.
_ROLLOUT_STEPS = (25.0, 50.0, 100.0)
_ROLLOUT_STEP_REQUESTS = 30  # canary answers per step (and every guard judged and passed)
_ROLLOUT_GUARD_MIN = 20  # answers per side before any verdict
_ROLLOUT_GUARD_WINDOW = 200
_PHASE_TIMEOUT_S = 60.0  # a canary that neither rolls back nor is promoted by then: the demo failed


class _Traffic:
    """Clients sending the recording's clips in a loop, each on its own channel, until `stop()`.

    `AsrClient` sends no per-client metadata (`x-client-id`), so the server keys the canary's split on
    each request's own id: every clip is split afresh, as if each came from another user.
    """

    def __init__(self, target: str, clips: list[vad.Clip], clients: int) -> None:
        import threading
        from collections import Counter

        self._target = target
        self._clips = clips
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.answers: Counter[tuple[str, str]] = Counter()  # (model version, role) -> answers
        self.nulls: Counter[str] = Counter()  # model version -> answers without text
        self.refused: Counter[str] = Counter()  # the error's first words -> count
        self._threads = [threading.Thread(target=self._client, name=f"demo-client-{i}", daemon=True)
                         for i in range(clients)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(30)

    def _client(self) -> None:
        from asr_service.client import AsrClient

        with AsrClient(self._target) as client:
            while not self._stopping.is_set():
                for clip in self._clips:
                    if self._stopping.is_set():
                        return
                    try:
                        result = client.recognize_clip(clip)
                    except AsrError as exc:  # overload refusals on a busy machine: counted, and a breath
                        with self._lock:
                            self.refused[" ".join(str(exc).split()[:3])] += 1
                        time.sleep(0.05)
                        continue
                    with self._lock:
                        self.answers[(result.model_version, result.role)] += 1
                        if not result.text:
                            self.nulls[result.model_version] += 1


def run_rollout(args: argparse.Namespace) -> int:
    """Rehearse a rollout on loopback: a faulty canary rolled back by its guards, a healthy one promoted."""
    import dataclasses
    import tempfile

    from asr_service.cli._deploy import AdminClient, AdminRefused, print_status
    from asr_service.server import BackgroundServer

    if args.realtime:
        return fail("--rollout sends clips as fast as the server answers them; leave out --realtime", 2)
    path = Path(args.audio) if args.audio else sample_path()
    try:
        options = vad_options(args)
        config = config_from_args(args, host="127.0.0.1", port=0, http_port=0, **{"engine.model": "tiny.en"})
        deployment = dataclasses.replace(
            config.deployment, state_file=None, models=(), faults=(), canary_steps=_ROLLOUT_STEPS,
            canary_step_requests=_ROLLOUT_STEP_REQUESTS, canary_step_s=0.0, guard_window=_ROLLOUT_GUARD_WINDOW,
            guard_min_requests=_ROLLOUT_GUARD_MIN)
        # plain loopback, whatever the environment says: the rehearsal speaks to itself
        config = dataclasses.replace(config, deployment=deployment, tls_cert_file=None, tls_key_file=None,
                                     tls_client_ca_file=None, auth_tokens_file=None)
        clips = list(vad.iter_file_clips(path, options))
        background = BackgroundServer(config)
    except (ValueError, AsrError, vad.VadError) as exc:
        return fail(str(exc), 2)
    if not clips:
        return fail(f"{path}: the client VAD found no speech to send", 2)
    setup_logging("WARNING")  # the server's rollback and promotion warnings, between the demo's lines
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # ... in order, also through a pipe
    started = time.monotonic()
    try:
        background.start()
    except AsrError as exc:
        return fail(str(exc))
    http_port = background.server.monitor.http_port
    admin = AdminClient(f"http://127.0.0.1:{http_port}", timeout_s=120.0)
    clients = max(2, min(4, config.engine.num_workers))
    traffic = _Traffic(background.target, clips, clients)
    print(f"server on 127.0.0.1:{background.port} (gRPC), admin API on {admin.url} (asr deploy --url {admin.url})")
    print(f"traffic: {clients} clients send the {len(clips)} clips of {path.name} in a loop (each request split "
          "on its own id)")
    print(f"canary policy: steps {', '.join(f'{s:g}' for s in _ROLLOUT_STEPS)} %, {_ROLLOUT_STEP_REQUESTS} canary "
          f"answers a step, moving on only once every guard has judged and passed; guards judge once both sides have "
          f"{_ROLLOUT_GUARD_MIN} answers, at the level of a one-sided z of {deployment.guard_z:g}\n")
    try:
        with tempfile.TemporaryDirectory(prefix="asr-rollout-") as temp:
            traffic.start()
            code = _rehearse(admin, Path(temp), started)
            traffic.stop()
            print()
            print_status(admin.status(), sys.stdout, events=12)
    except AdminRefused as exc:
        code = fail(f"an admin call was refused: {exc}")
    except AsrError as exc:
        code = fail(str(exc))
    finally:
        traffic.stop()
        background.stop()
    print("\ntraffic answered, by model version and role:")
    for (version, role), count in sorted(traffic.answers.items()):
        print(f"  {count:5d}  {role:<8} {version}  ({traffic.nulls[version]} without text in all)")
    for why, count in traffic.refused.items():
        print(f"  {count:5d}  refused: {why} ...")
    print(f"\nrehearsal {'done' if code == 0 else 'FAILED'} in {time.monotonic() - started:.1f} s; server stopped.")
    return code


def _rehearse(admin: Any, temp: Path, started: float) -> int:
    """The operator's side: load and canary a faulty model, watch it rolled back; load a healthy one, watch it
    promoted. 0 when both went as they should."""
    def step(argv: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        print(f"$ asr deploy {argv}")
        answer: dict[str, Any] = admin.call(action, body)
        print(f"  {answer.get('done')}")
        return answer

    print("== 1. a faulty candidate: the same model, answering 30 % of clips with no text")
    step("load tiny.en --id tiny-faulty --faults empty_rate=0.3", "load",
         {"source": "tiny.en", "model_id": "tiny-faulty", "faults": {"empty_rate": 0.3}})
    step("canary tiny-faulty", "canary", {"model_id": "tiny-faulty"})
    state = _watch_canary(admin, "tiny-faulty", started)
    rollback = state.get("last_rollback")
    if state.get("canary") is not None or rollback is None or rollback.get("model_id") != "tiny-faulty":
        return fail("the faulty canary was not rolled back automatically")
    print(f"ROLLED BACK automatically: tiny-faulty at {rollback['percent']:g} % after {rollback['canary_answers']} "
          f"canary answers; {rollback['guards'][0]} guard failed: {rollback['reason']}")
    print(f"  {state.get('primary')} serves all default traffic again\n")

    print("== 2. a healthy candidate: tiny.en re-converted (the same weights, a new fingerprint)")
    directory = _reconverted_copy(temp)
    step(f"load {directory} --id tiny-v2", "load", {"source": str(directory), "model_id": "tiny-v2"})
    step("canary tiny-v2", "canary", {"model_id": "tiny-v2"})
    state = _watch_canary(admin, "tiny-v2", started)
    if state.get("primary") != "tiny-v2":
        reason = (state.get("last_rollback") or {}).get("reason", "no promotion in time")
        return fail(f"the healthy canary was not promoted ({reason})")
    print(f"PROMOTED: tiny-v2 is the primary after passing {len(_ROLLOUT_STEPS)} steps "
          f"(previous primary {state.get('previous')} stays loaded as standby, for `asr deploy rollback`)\n")
    step("unload tiny-faulty", "unload", {"model_id": "tiny-faulty"})
    return 0


def _watch_canary(admin: Any, model_id: str, started: float) -> dict[str, Any]:
    """Poll the state until the canary of `model_id` ends, printing its ramp and guards as they move."""
    last: tuple[Any, ...] | None = None
    printed_at = 0.0
    deadline = time.monotonic() + _PHASE_TIMEOUT_S
    while time.monotonic() < deadline:
        state: dict[str, Any] = admin.status()
        canary = state.get("canary")
        if canary is None or canary.get("model_id") != model_id:
            return state
        guards = canary.get("guards") or []
        key = (canary.get("step"), tuple(g.get("verdict") for g in guards))
        now = time.monotonic()
        if key != last or now - printed_at > 2.0:
            verdicts = ", ".join(f"{g['name']} {_guard_figures(g)}" for g in guards) or "not looked at yet"
            print(f"  t={now - started:5.1f} s  {model_id} at {canary['percent']:g} % (step {canary['step'] + 1} of "
                  f"{len(canary['steps'])}: {canary['step_answers']}/{canary['step_requests']} answers); windows "
                  f"canary {canary['canary']['requests']}, primary {canary['primary']['requests']}; guards: "
                  f"{verdicts}", flush=True)
            last, printed_at = key, now
        time.sleep(0.2)
    return dict(admin.status())


def _guard_figures(guard: dict[str, Any]) -> str:
    if guard.get("verdict") == "no data":
        return "no data"
    return f"{guard['canary']:.3g} vs {guard['primary']:.3g} (limit {guard['limit']:.3g}) {guard['verdict'].upper()}"


def _reconverted_copy(temp: Path) -> Path:
    """The embedded model as a re-conversion would give it: the same weights, a config.json written anew
    (so a new fingerprint, hence a version of its own; a version is served once)."""
    import shutil

    from asr_service.engines._model_files import resolve_model

    source = resolve_model("tiny.en").path
    target = temp / "tiny.en-reconverted"
    target.mkdir()
    for item in source.iterdir():
        if item.name == "config.json":
            (target / item.name).write_text(item.read_text(encoding="utf-8").rstrip() + "\n\n", encoding="utf-8")
        elif item.is_file():
            try:
                (target / item.name).symlink_to(item)
            except OSError:  # no symlinks here: a copy (75 MB)
                shutil.copyfile(item, target / item.name)
    return target
