"""Rollouts under real traffic: shadow overhead, blue/green without lost requests, canary guards, memory.

a. Shadow overhead: a real server (`asr serve` in its own process, tiny.en primary, `base` loaded) gets open-loop
   (Poisson) arrivals of the shared speech's VAD clips of 2-8 s (bench_capacity.py's clips and load
   generator, half unary, half streaming) at `--rate`; rounds alternate shadow off / `base` as shadow
   at sample 1.0, each pair on the same arrivals (same seed). Primary p50/p95 server latency both ways,
   shadow coverage, dropped_busy and the shadow's WER against the primary (GET /api/deploy).
b. Blue/green under load: closed-loop clients (unary and streaming) while the primary is switched
   tiny.en -> a re-converted tiny.en (a copy with a changed config.json) -> rollback, several times;
   every clip sent must get exactly one answer (failed and lost counted), and which version answered.
c. Canary guards: replayed, not served. Stage 1 (cached) transcribes every clip in-process with tiny.en
   and with the re-converted copy (the server's `Recognizer`, each clip alone, the two models taking
   turns), `--passes` times for the latencies (a request takes one of its clip's passes at random). Each run
   then draws requests from a seeded RNG: a clip of the split, a client id; the split is the
   deployment's own sticky hash (`Deployment._bucket`) at 10 %. Both sides' recorded results go
   through the real guard code (`SideWindow`, `judge`), judged every `_GUARD_EVERY` canary answers as
   the deployment does. Faulty canaries are tiny.en with `FaultyEngine`'s faults applied to the
   recorded results (seeded draws: `empty_rate` blanks the text -> NO_SPEECH; `latency_ms` adds to the
   inference and server time). Healthy: the copy at 10 % for 1,000 requests, never promoted (steps
   [10, 100], step requests past the run): a rollback there is a false alarm. Guard settings are
   chosen on the tune split and reported on the report split (`split_of` of bench_alarms.py).
d. Memory: `asr serve` as its own process; RSS with tiny.en, then after loading `base` at run time.

    python bench/bench_rollout.py [--parts a,b,c,d] [--runs 10] [--seconds 30] [--rate 3] [--cache DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

import bench_capacity as capacity  # noqa: E402
from bench_alarms import split_of  # noqa: E402

import vad  # noqa: E402
from asr_service.audio import AudioFormat, AudioStats, decode_clip  # noqa: E402
from asr_service.client import AsrClient  # noqa: E402
from asr_service.config import DeploymentOptions, EngineOptions, ServerConfig  # noqa: E402
from asr_service.deployment import Deployment, GuardOptions, SideWindow, judge  # noqa: E402
from asr_service.deployment._deployment import _GUARD_EVERY  # noqa: E402
from asr_service.engines import EngineInfo, create_engine  # noqa: E402
from asr_service.engines._model_files import resolve_model  # noqa: E402
from asr_service.recognizer import Latency, NullReason, RecognitionResult, Recognizer  # noqa: E402
from asr_service.server import BackgroundServer  # noqa: E402
from protos.asr.v1 import asr_pb2, asr_pb2_grpc  # noqa: E402

SPEECH = capacity.SPEECH
BUDGET_MS = 300.0
CANARY_PERCENT = 10.0
_INFO = EngineInfo(model_id="replay", model_version="replay", engine="replay", config_hash="0")


def reconverted_copy(folder: Path) -> Path:
    """The embedded tiny.en as "a re-converted model": the same weights (linked), config.json rewritten
    (one more newline), so its fingerprint, and so its version, are new."""
    source = resolve_model("tiny.en").path
    target = folder / "tiny.en-reconverted"
    target.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(source):
        if name == "config.json":
            (target / name).write_text((source / name).read_text() + "\n")
        elif not (target / name).exists():
            os.symlink(source / name, target / name)
    return target


def http(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=900) as reply:
            return int(reply.status), json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")


def admin(port: int, action: str, **body: Any) -> dict[str, Any]:
    status, answer = http(port, "POST", f"/api/deploy/{action}", body)
    if status != 200:
        raise RuntimeError(f"POST /api/deploy/{action} {body}: {status} {answer}")
    return dict(answer)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


# -- a. shadow overhead ------------------------------------------------------------------------------------


def serve_process(*extra: str) -> tuple[subprocess.Popen[bytes], int, int]:
    """`asr serve` as its own process (tiny.en; the load generator must not share its GIL): (process, gRPC
    port, HTTP port), ready."""
    port, http_port = capacity._free_port(), capacity._free_port()
    process = subprocess.Popen([sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port), "--http-port",
                                str(http_port), "--model", "tiny.en", "--log-level", "ERROR", *extra])
    with AsrClient(f"127.0.0.1:{port}", timeout_s=120) as client:
        client.wait_ready(120)
    return process, port, http_port


def part_shadow(clips: list[capacity.Clip], args: argparse.Namespace) -> dict[str, Any]:
    process, grpc_port, port = serve_process()
    target = f"127.0.0.1:{grpc_port}"
    rows: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    shadow_rounds: list[dict[str, Any]] = []
    try:
        admin(port, "load", source="base", model_id="base")
        asyncio.run(capacity.run_rate(target, clips, 2.0, 4.0, args.seed - 1, process.pid))  # warm-up
        for round_index in range(args.rounds):
            seed = args.seed * 100 + round_index
            for mode in ("off", "on") if round_index % 2 == 0 else ("on", "off"):
                if mode == "on":
                    admin(port, "shadow", model_id="base", sample=1.0)
                got, _ = asyncio.run(capacity.run_rate(target, clips, args.rate, args.seconds, seed, process.pid))
                time.sleep(2.0)  # the last shadow clip finishes before the figures are read
                if mode == "on":
                    shadow = http(port, "GET", "/api/deploy")[1]["shadow"]
                    shadow_rounds.append({**shadow, "primary_answered": sum(r["code"] == "OK" for r in got)})
                    admin(port, "shadow", model_id=None)
                rows[mode].extend(got)
                print(f"  shadow {mode:3} round {round_index}: {len(got)} clips", file=sys.stderr, flush=True)
    finally:
        process.terminate()
        process.wait(30)
    out: dict[str, Any] = {"part": "a_shadow", "rate_per_s": args.rate, "seconds_per_round": args.seconds,
                           "rounds": args.rounds}
    for mode, got in rows.items():
        ok = [r for r in got if r["code"] == "OK"]
        out[f"{mode}_clips"] = len(got)
        out[f"{mode}_not_ok_by_code"] = dict(Counter(r["code"] for r in got if r["code"] != "OK"))
        out[f"{mode}_p50_ms"] = _pct([r["server_ms"] for r in ok], 50)
        out[f"{mode}_p95_ms"] = _pct([r["server_ms"] for r in ok], 95)
        out[f"{mode}_rtt_p95_ms"] = _pct([r["round_trip_ms"] for r in ok], 95)
    out["p50_ratio"] = round(out["on_p50_ms"] / out["off_p50_ms"], 3)
    out["p95_ratio"] = round(out["on_p95_ms"] / out["off_p95_ms"], 3)
    answered = sum(s["primary_answered"] for s in shadow_rounds)
    compared = sum(s["compared"] for s in shadow_rounds)
    out.update(shadow_offered=sum(s["offered"] for s in shadow_rounds), shadow_compared=compared,
               shadow_dropped_busy=sum(s["dropped_busy"] for s in shadow_rounds),
               shadow_failed=sum(s["failed"] for s in shadow_rounds),
               coverage_of_primary_clips=round(compared / answered, 3) if answered else None,
               shadow_wer_vs_primary_per_round=[round(s["wer_vs_primary"], 3) if s["wer_vs_primary"] is not None
                                                else None for s in shadow_rounds],
               shadow_p50_ms=[s["shadow_p50_ms"] for s in shadow_rounds])
    return out


# -- b. blue/green under load ----------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0
        self.answered = 0
        self.failed: Counter[str] = Counter()
        self.versions: Counter[str] = Counter()
        self.roles: Counter[str] = Counter()

    def answer(self, result: asr_pb2.RecognitionResult) -> None:
        with self.lock:
            self.answered += 1
            self.versions[result.model.model_version] += 1
            self.roles[result.model.role] += 1


def _unary_client(target: str, clips: list[capacity.Clip], tally: Tally, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with grpc.insecure_channel(target) as channel:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        while not stop.is_set():
            clip = rng.choice(clips)
            with tally.lock:
                tally.sent += 1
            try:
                reply = stub.Recognize(asr_pb2.RecognizeRequest(request_id=uuid.uuid4().hex, clip_id=clip.name,
                                                                config=capacity._FORMAT, audio=clip.pcm), timeout=60)
            except grpc.RpcError as exc:
                with tally.lock:
                    tally.failed[exc.code().name] += 1
                continue
            tally.answer(reply.result)


def _streaming_client(target: str, clips: list[capacity.Clip], tally: Tally, stop: threading.Event,
                      seed: int) -> None:
    """Streams of 5 clips each, sent one after the other's answer (a live speaker)."""
    rng = random.Random(seed)
    with grpc.insecure_channel(target) as channel:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        while not stop.is_set():
            chosen = [rng.choice(clips) for _ in range(5)]
            answered = threading.Semaphore(0)

            def requests(chosen: list[capacity.Clip] = chosen,
                         answered: threading.Semaphore = answered) -> Any:
                yield asr_pb2.StreamingRecognizeRequest(request_id=uuid.uuid4().hex, config=capacity._FORMAT)
                for i, clip in enumerate(chosen):
                    if i:
                        answered.acquire()
                    with tally.lock:
                        tally.sent += 1
                    yield from capacity._chunks(clip)

            got = 0
            try:
                for reply in stub.StreamingRecognize(requests(), timeout=120):
                    got += 1
                    tally.answer(reply.result)
                    answered.release()
            except grpc.RpcError as exc:
                with tally.lock:
                    tally.failed[exc.code().name] += 1


def part_blue_green(clips: list[capacity.Clip], folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    # admission by count: closed-loop clients past capacity would otherwise be refused by the budget rule,
    # which says nothing about switching
    config = ServerConfig(port=0, http_port=0, log_level="ERROR", shutdown_notice_s=0.0, max_concurrent_requests=16,
                          admission="count")
    server = BackgroundServer(config).start()
    port = server.server.monitor.http_port
    assert port is not None
    tally = Tally()
    stop = threading.Event()
    changes: list[str] = []
    try:
        copy = reconverted_copy(folder)
        admin(port, "load", source=str(copy), model_id="tiny-reconverted")
        workers = [threading.Thread(target=_unary_client, args=(server.target, clips, tally, stop, i))
                   for i in range(2)]
        workers.append(threading.Thread(target=_streaming_client, args=(server.target, clips, tally, stop, 9)))
        for worker in workers:
            worker.start()
        time.sleep(2.0)
        for _ in range(args.switches):
            admin(port, "switch", model_id="tiny-reconverted")
            changes.append("switch")
            time.sleep(args.switch_every_s)
            admin(port, "rollback")
            changes.append("rollback")
            time.sleep(args.switch_every_s)
        stop.set()
        for worker in workers:
            worker.join(180)
        time.sleep(0.5)
    finally:
        stop.set()
        server.stop(5.0)
    failed = sum(tally.failed.values())
    return {"part": "b_blue_green", "clients": "2 unary + 1 streaming (5 clips a stream), closed loop",
            "switches": len(changes), "sent": tally.sent, "answered": tally.answered, "failed": failed,
            "failed_by_code": dict(tally.failed), "lost": tally.sent - tally.answered - failed,
            "answered_by_version": dict(tally.versions), "answered_by_role": dict(tally.roles)}


# -- c. canary guards (replayed) -----------------------------------------------------------------------------


def record(clips: list[capacity.Clip], folder: Path, cache: Path, passes: int) -> dict[str, list[dict[str, Any]]]:
    """Per model, each clip's result (cached): text, null reason, confidence, and `passes` latencies. The two
    models take turns clip by clip, pass after pass, so that the host's noise falls on both alike."""
    path = cache / f"outcomes-{passes}.json"
    if path.exists():
        data: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())
        if all(len(v) == len(clips) for v in data.values()):
            return data
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = asyncio.run(_transcribe_all(clips, {"tiny.en": "tiny.en", "reconverted": str(reconverted_copy(folder))},
                                       passes))
    print(f"  recorded {', '.join(data)}: {len(clips)} clips x {passes} passes in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    path.write_text(json.dumps(data))
    return data


async def _transcribe_all(clips: list[capacity.Clip], sources: dict[str, str],
                          passes: int) -> dict[str, list[dict[str, Any]]]:
    """Each clip alone through the server's recognizer, in this process (no queueing: latency is the model's)."""
    recognizers = {}
    for name, source in sources.items():
        config = ServerConfig(engine=EngineOptions(model=source))
        recognizers[name] = Recognizer(create_engine(config.engine), config)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in sources}
    try:
        for index in range(passes):
            for i, clip in enumerate(clips):
                decoded = decode_clip(clip.pcm, AudioFormat(sample_rate_hz=vad.SAMPLE_RATE_HZ, channels=1),
                                      ServerConfig().clip_limits)
                for name, recognizer in recognizers.items():
                    result = await recognizer.recognize(decoded, clip_id=clip.name, received_at=time.perf_counter())
                    if index == 0:
                        rows[name].append({"clip": clip.name, "split": split_of(clip.name.split("#")[0]),
                                           "text": result.text, "confidence": result.confidence,
                                           "null_reason": result.null_reason.name, "duration_s": clip.duration_s,
                                           "inference_ms": [], "server_ms": []})
                    rows[name][i]["inference_ms"].append(result.latency.inference_ms)
                    rows[name][i]["server_ms"].append(result.latency.server_total_ms)
    finally:
        for recognizer in recognizers.values():
            recognizer.close()
    return rows


def as_result(row: dict[str, Any], *, take: int, empty: bool = False, extra_ms: float = 0.0) -> RecognitionResult:
    """A recorded clip as the recognizer's result; `empty` as FaultyEngine's blank text (the recognizer
    then says NO_SPEECH), `extra_ms` as its added latency."""
    null = NullReason[row["null_reason"]]
    text = row["text"]
    inference_ms, server_ms = row["inference_ms"][take], row["server_ms"][take]
    if empty and null not in (NullReason.EMPTY_AUDIO, NullReason.TOO_QUIET):
        text, null = "", (null if null is NullReason.HALLUCINATION_SUPPRESSED else NullReason.NO_SPEECH)
    return RecognitionResult(
        clip_id="", text=text, confidence=row["confidence"], null_reason=null, no_speech_prob=0.0, model=_INFO,
        role="canary",
        latency=Latency(queue_wait_ms=0.0, inference_ms=inference_ms + extra_ms,
                        server_total_ms=server_ms + extra_ms, budget_ms=BUDGET_MS),
        audio=AudioStats(duration_s=row["duration_s"], rms_dbfs=-20.0, peak_dbfs=-3.0, clipped_ratio=0.0,
                         sample_rate_hz=16_000), vad=None)


def replay(primary: list[dict[str, Any]], canary: list[dict[str, Any]], options: GuardOptions, *, seed: int,
           empty_rate: float = 0.0, latency_ms: float = 0.0, max_requests: int) -> dict[str, Any]:
    """One rollout: requests until the guards fire or `max_requests`; canary requests and guards fired."""
    rng = random.Random(seed)
    faults = random.Random(seed)  # FaultyEngine's own draws (FaultOptions.seed = the run's seed)
    passes = len(primary[0]["server_ms"])  # each request gets one of the clip's measured latencies, at random
    sides = {"canary": SideWindow(options.window), "primary": SideWindow(options.window)}
    since_look = 0
    for i in range(max_requests):
        index = rng.randrange(len(primary))
        if Deployment._bucket(f"run{seed}-client{i}", 1) >= CANARY_PERCENT:
            sides["primary"].add_result(as_result(primary[index], take=rng.randrange(passes)))
            continue
        draw = faults.random()
        sides["canary"].add_result(as_result(canary[index], take=rng.randrange(passes), empty=draw < empty_rate,
                                             extra_ms=latency_ms))
        since_look += 1
        if since_look >= _GUARD_EVERY:
            since_look = 0
            failed = [r.name for r in judge(sides["canary"], sides["primary"], options) if r.verdict == "fail"]
            if failed:
                return {"rolled_back": True, "canary_requests": sides["canary"].total, "requests": i + 1,
                        "guards": failed}
    return {"rolled_back": False, "canary_requests": sides["canary"].total, "requests": max_requests, "guards": []}


def guard_figures(data: dict[str, list[dict[str, Any]]], split: str, options: GuardOptions,
                  runs: int) -> dict[str, Any]:
    keep = [i for i, row in enumerate(data["tiny.en"]) if row["split"] == split]
    tiny = [data["tiny.en"][i] for i in keep]
    copy = [data["reconverted"][i] for i in keep]
    out: dict[str, Any] = {"split": split, "clips": len(tiny), "z": options.z, "min_requests": options.min_requests,
                           "window": options.window}
    for name, faults in (("empty0.3", {"empty_rate": 0.3}), ("lat400", {"latency_ms": 400.0})):
        got = [replay(tiny, tiny, options, seed=s, max_requests=20_000, **faults) for s in range(runs)]
        counts = [g["canary_requests"] for g in got if g["rolled_back"]]
        out[f"{name}_rolled_back"] = sum(g["rolled_back"] for g in got)
        out[f"{name}_canary_requests_max"] = max(counts) if counts else None
        out[f"{name}_canary_requests_median"] = statistics.median(counts) if counts else None
        out[f"{name}_guards"] = dict(Counter(g for run in got for g in run["guards"][:1]))
    healthy = [replay(tiny, copy, options, seed=1000 + s, max_requests=1000) for s in range(runs)]
    out["healthy_rollbacks"] = sum(h["rolled_back"] for h in healthy)
    out["healthy_canary_requests_mean"] = round(statistics.mean(h["canary_requests"] for h in healthy), 1)
    out["healthy_guards"] = dict(Counter(g for h in healthy for g in h["guards"]))
    return out


def part_guards(clips: list[capacity.Clip], folder: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    data = record(clips, folder, args.cache, args.passes)
    defaults = DeploymentOptions()
    results = []
    print("\nc. canary guards, replayed (see the docstring); faulty: runs until rollback; healthy: 1,000 requests "
          f"at {CANARY_PERCENT:g} %, never promoted; {args.runs} runs each")
    print("| split | z | min_requests | window | empty0.3: rolled back, max/median canary req | lat400: rolled back, "
          "max/median | healthy rollbacks |")
    print("|---|---|---|---|---|---|---|")
    grid = [(z, m, defaults.guard_window) for z in args.z_grid for m in args.min_grid]
    for split in ("tune", "report"):
        settings = grid if split == "tune" else [(args.z, args.min_requests, args.window)]
        for z, minimum, window in settings:
            figures = guard_figures(data, split, GuardOptions(window=window, min_requests=minimum, z=z), args.runs)
            results.append({"part": "c_guards", **figures})
            print(f"| {split} | {z:g} | {minimum} | {window} | {figures['empty0.3_rolled_back']}/{args.runs}, "
                  f"{figures['empty0.3_canary_requests_max']}/{figures['empty0.3_canary_requests_median']} | "
                  f"{figures['lat400_rolled_back']}/{args.runs}, {figures['lat400_canary_requests_max']}/"
                  f"{figures['lat400_canary_requests_median']} | {figures['healthy_rollbacks']}/{args.runs} |")
    return results


# -- d. memory ---------------------------------------------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def part_memory() -> dict[str, Any]:
    process, _, http_port = serve_process()
    try:
        time.sleep(1.0)
        alone = _rss_mb(process.pid)
        admin(http_port, "load", source="base", model_id="base")
        time.sleep(1.0)
        both = _rss_mb(process.pid)
        models = {m["model_id"]: m["rss_added_mb"] for m in http(http_port, "GET", "/api/deploy")[1]["models"]}
    finally:
        process.terminate()
        process.wait(30)
    return {"part": "d_memory", "rss_tiny_en_mb": round(alone, 1), "rss_tiny_en_and_base_mb": round(both, 1),
            "rss_added_mb_by_model": models, "under_1_gb": both < 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="a,b,c,d")
    parser.add_argument("--rate", type=float, default=3.0, help="a: clips per second offered")
    parser.add_argument("--seconds", type=float, default=30.0, help="a: seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="a: pairs of rounds (shadow off, on)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--switches", type=int, default=5, help="b: switch + rollback cycles")
    parser.add_argument("--switch-every-s", type=float, default=2.5)
    parser.add_argument("--passes", type=int, default=3, help="c: latencies measured per clip and model")
    parser.add_argument("--runs", type=int, default=100, help="c: runs per setting (the issue asks for 10; 100 "
                        "take under a minute and tell a 1 %% false-rollback rate from 0)")
    parser.add_argument("--z-grid", type=lambda s: [float(x) for x in s.split(",")], default=[3.0, 3.5, 4.0, 4.5])
    parser.add_argument("--min-grid", type=lambda s: [int(x) for x in s.split(",")], default=[20, 30])
    parser.add_argument("--z", type=float, default=DeploymentOptions().guard_z, help="c: reported on the report split")
    parser.add_argument("--min-requests", type=int, default=DeploymentOptions().guard_min_requests)
    parser.add_argument("--window", type=int, default=DeploymentOptions().guard_window)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/asr-bench-rollout"))
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_rollout: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    clips = capacity.load_clips(vad.VadOptions())
    print(f"{len(clips)} VAD clips of {capacity.MIN_S:g}-{capacity.MAX_S:g} s of the shared speech "
          f"(tune {sum(split_of(c.name.split('#')[0]) == 'tune' for c in clips)}, report "
          f"{sum(split_of(c.name.split('#')[0]) == 'report' for c in clips)}); {os.cpu_count()} cores", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    try:
        if "d" in parts:
            memory = part_memory()
            print(json.dumps(memory), flush=True)
        if "a" in parts:
            shadow = part_shadow(clips, args)
            print(json.dumps(shadow), flush=True)
            print(f"\na. shadow overhead (both splits' clips, {args.rate:g}/s open loop, {args.rounds} x "
                  f"{args.seconds:g} s each way): primary server p50/p95 {shadow['off_p50_ms']:.0f}/"
                  f"{shadow['off_p95_ms']:.0f} ms without a shadow, {shadow['on_p50_ms']:.0f}/{shadow['on_p95_ms']:.0f}"
                  f" ms with base as shadow: p95 ratio {shadow['p95_ratio']:.2f} (target <= 1.10); coverage "
                  f"{shadow['coverage_of_primary_clips']}, dropped_busy {shadow['shadow_dropped_busy']}, "
                  f"shadow WER vs primary {shadow['shadow_wer_vs_primary_per_round']}", flush=True)
        if "b" in parts:
            blue_green = part_blue_green(clips, folder, args)
            print(json.dumps(blue_green), flush=True)
            print(f"\nb. blue/green: {blue_green['switches']} changes under load, {blue_green['sent']} clips sent, "
                  f"{blue_green['failed']} failed, {blue_green['lost']} lost (targets 0, 0); answered by version "
                  f"{blue_green['answered_by_version']}", flush=True)
        if "c" in parts:
            for row in part_guards(clips, folder, args):
                print(json.dumps(row))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
