"""Capacity within the budget: open-loop (Poisson) arrivals of real 2-8 s clips, half unary, half streaming.

Starts `asr serve` as its own process on a free loopback port (as a user would), cuts the shared speech
into clips with the client VAD and keeps those of 2 to 8 s. Then, for each rate, it sends clips at
Poisson arrival times whether or not earlier ones have been answered (open loop: users do not wait for
each other), alternately with `Recognize` and on a `StreamingRecognize` session. Sessions come from a
pool: a clip goes on an idle session, or opens a new one, so each session has one utterance in flight,
as a live user's does. Each rate has its own seed (from `--seed` and the rate), so the arrivals are repeatable.

Per rate it prints the server's latency (from the clip's last byte to its result, as the server reports
it) and the round trip the client sees, p50/p95/p99; rejected clips (RESOURCE_EXHAUSTED) and errors;
where the server's time went (waiting for a worker, inference, the rest); and the CPU the server and
this load generator used, in cores (they share the host). Before the servers start, it times one clip
alone in-process, split into log-mel, encoder and decoder. After the runs it sets each rate's p95 beside
what a queue alone would give: an M/G/c queue, c = the workers, fed the inference times of the lowest
rate. The capacity is the highest rate at which p95 server latency is within the budget and under 1 %
of clips are refused, at that rate and every lower one.

    python bench/bench_capacity.py [--rates 2,4,6,8,10] [--seconds 45] [--variant NAME:KEY=VALUE] [--out FILE]

`--variant workers2:ASR_ENGINE_NUM_WORKERS=2` (any settings, as `asr serve` reads them from its
environment) also starts a server so configured; at each rate every server gets the same arrivals in
turn, so the host's noise falls on all of them alike and the defaults are the baseline of the run.
`--variant before:PYTHONPATH=/tmp/worktree` runs another checkout's code: the servers start with
`python -m`, which puts the working directory first on the path, so a variant that sets PYTHONPATH also
gets `PYTHONSAFEPATH=1` (without it, a run from this checkout compared this code with itself).
`--revisions` also starts a default server whose streaming sessions ask for revisions (a second pass over
blocks of each session's clips, in the background; asr_service/revisions.py): what they cost the clips.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import vad  # noqa: E402
from asr_service.client import AsrClient  # noqa: E402
from asr_service.client._clips import clip_vad_stats  # noqa: E402
from asr_service.engines import EngineOptions, create_engine  # noqa: E402
from protos.asr.v1 import asr_pb2, asr_pb2_grpc  # noqa: E402

SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
MIN_S, MAX_S = 2.0, 8.0
CHUNK_MS = 100
MAX_REFUSED = 0.01  # a rate with more refused clips than this is past capacity, whatever its p95
REVISED = "revisions"  # --revisions: the server whose streaming sessions ask for revisions
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Clip:
    """One clip as the wire carries it."""

    name: str
    duration_s: float
    pcm: bytes
    vad_stats: asr_pb2.VadStats


def load_clips(options: vad.VadOptions) -> list[Clip]:
    """The shared speech's VAD clips of 2 to 8 s."""
    manifest = [json.loads(x) for x in (SPEECH / "manifest.jsonl").read_text().splitlines() if x.strip()]
    clips: list[Clip] = []
    for row in manifest:
        for clip in vad.iter_file_clips(SPEECH / row["audio"], options):
            if MIN_S <= clip.duration_s <= MAX_S:
                s = clip_vad_stats(clip)
                clips.append(Clip(
                    f"{row['audio']}#{clip.index}", clip.duration_s, clip.to_bytes(),
                    asr_pb2.VadStats(speech_ratio=s.speech_ratio, pre_padding_ms=s.pre_padding_ms,
                                     post_padding_ms=s.post_padding_ms, gain_db=s.gain_db, split=s.split,
                                     start_s=s.start_s)))
    return clips


_FORMAT = asr_pb2.RecognitionConfig(format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16,
                                                               sample_rate_hz=vad.SAMPLE_RATE_HZ))


def _chunks(clip: Clip) -> Iterator[asr_pb2.StreamingRecognizeRequest]:
    step = vad.SAMPLE_RATE_HZ * CHUNK_MS // 1000 * 2
    for i in range(0, len(clip.pcm), step):
        last = i + step >= len(clip.pcm)
        yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(
            clip_id=clip.name, data=clip.pcm[i:i + step], end_of_utterance=last,
            vad_stats=clip.vad_stats if last else None))


class Sessions:
    """Open `StreamingRecognize` calls; each carries one clip at a time (and, with `revisions`, asks for
    revisions, which it counts)."""

    def __init__(self, stub: asr_pb2_grpc.RecognizerStub, *, revisions: bool = False) -> None:
        self._stub = stub
        self._idle: list[Any] = []
        self._revisions = revisions
        self.opened = 0
        self.revised = 0

    async def send(self, clip: Clip) -> tuple[asr_pb2.RecognitionResult, float]:
        """The clip's result and the time its last chunk was written."""
        call = self._idle.pop() if self._idle else await self._open()
        try:
            for request in _chunks(clip):
                await call.write(request)
            sent = time.perf_counter()
            reply = await call.read()
            while reply is not grpc.aio.EOF and reply.HasField("revision"):  # of earlier clips: counted
                self.revised += 1
                reply = await call.read()
        except BaseException:
            call.cancel()  # a failed session is not reused
            raise
        if reply is grpc.aio.EOF:
            raise RuntimeError("StreamingRecognize: the server ended the session without a result")
        self._idle.append(call)
        return reply.result, sent

    async def _open(self) -> Any:
        call = self._stub.StreamingRecognize()
        config = asr_pb2.RecognitionConfig()
        config.CopyFrom(_FORMAT)
        config.revisions = self._revisions
        await call.write(asr_pb2.StreamingRecognizeRequest(request_id=uuid.uuid4().hex, config=config))
        self.opened += 1
        return call

    async def close(self) -> None:
        """End every session, and read what comes before its end: a session that asked for revisions gets
        its last ones then (the server waits for their second passes), so that they are done within the run
        that caused them and do not run into the next."""
        for call in self._idle:
            await call.done_writing()
        for call in self._idle:
            while (reply := await call.read()) is not grpc.aio.EOF:
                self.revised += reply.HasField("revision")
        self._idle.clear()


async def _one(stub: asr_pb2_grpc.RecognizerStub, sessions: Sessions, clip: Clip, kind: str) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind, "clip": clip.name, "duration_s": round(clip.duration_s, 3)}
    try:
        if kind == "unary":
            request = asr_pb2.RecognizeRequest(request_id=uuid.uuid4().hex, clip_id=clip.name, config=_FORMAT,
                                               audio=clip.pcm, vad_stats=clip.vad_stats)
            sent = time.perf_counter()
            result = (await stub.Recognize(request, timeout=60)).result
        else:
            result, sent = await sessions.send(clip)
    except grpc.aio.AioRpcError as exc:
        row["code"] = exc.code().name
        return row
    except RuntimeError as exc:  # a session the server ended without answering
        row["code"], row["error"] = "NO_RESULT", str(exc)
        return row
    row.update(code="OK", round_trip_ms=(time.perf_counter() - sent) * 1000, server_ms=result.latency.server_total_ms,
               queue_ms=result.latency.queue_wait_ms, inference_ms=result.latency.inference_ms,
               null=bool(result.null_reason))
    return row


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime + stime


async def run_rate(target: str, clips: list[Clip], rate: float, seconds: float, seed: int,
                   server_pid: int, *, revisions: bool = False) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Offer `rate` clips/s for `seconds` (streaming sessions asking for revisions if `revisions`); the rows
    and what the run cost."""
    rng = np.random.default_rng(seed)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = asr_pb2_grpc.RecognizerStub(channel)
        sessions = Sessions(stub, revisions=revisions)
        tasks: list[asyncio.Task[dict[str, Any]]] = []
        lag: list[float] = []
        cpu_server, cpu_self = _cpu_s(server_pid), time.process_time()
        start = time.perf_counter()
        at = 0.0
        while True:
            at += float(rng.exponential(1.0 / rate))
            if at > seconds:
                break
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag.append(max(0.0, -delay))
            clip = clips[int(rng.integers(len(clips)))]
            tasks.append(asyncio.create_task(_one(stub, sessions, clip, "unary" if len(tasks) % 2 else "streaming")))
        rows = list(await asyncio.gather(*tasks))
        wall = time.perf_counter() - start
        cost = {"wall_s": wall, "server_cores": (_cpu_s(server_pid) - cpu_server) / wall,
                "generator_cores": (time.process_time() - cpu_self) / wall,
                "send_lag_p95_ms": float(np.percentile(lag, 95)) * 1000 if lag else 0.0,
                "sessions": sessions.opened}
        await sessions.close()
        cost["revisions"] = sessions.revised
        cost["tail_s"] = time.perf_counter() - start - wall  # the sessions' ends (their last revisions)
    return rows, cost


def queue_model_p95(service_ms: list[float], rate: float, servers: int, n: int = 100_000, seed: int = 0) -> float:
    """p95 time in system of an M/G/`servers` FCFS queue at `rate` clips/s whose service times are drawn
    from `service_ms`: what `servers` workers would give if queueing were the only effect of load."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1000.0 / rate, n))
    service = rng.choice(np.asarray(service_ms), n)
    free = [0.0] * servers
    done = np.empty(n)
    for i in range(n):
        start = max(arrivals[i], heapq.heappop(free))
        heapq.heappush(free, start + service[i])
        done[i] = start + service[i] - arrivals[i]
    return round(float(np.percentile(done, 95)), 1)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def summarise(rate: float, rows: list[dict[str, Any]], cost: dict[str, float], budget_ms: float) -> dict[str, Any]:
    ok = [r for r in rows if r["code"] == "OK"]
    refused = sum(r["code"] == "RESOURCE_EXHAUSTED" for r in rows)
    server = [r["server_ms"] for r in ok]
    out: dict[str, Any] = {
        "summary": "rate", "offered_per_s": rate, "clips": len(rows),
        "answered_per_s": round(len(ok) / cost["wall_s"], 2),
        "refused": refused, "errors": len(rows) - len(ok) - refused,
        "mean_clip_s": round(float(np.mean([r["duration_s"] for r in rows])), 2) if rows else 0.0,
        "server_p50_ms": _pct(server, 50), "server_p95_ms": _pct(server, 95), "server_p99_ms": _pct(server, 99),
        "round_trip_p50_ms": _pct([r["round_trip_ms"] for r in ok], 50),
        "round_trip_p95_ms": _pct([r["round_trip_ms"] for r in ok], 95),
        "over_budget": sum(s > budget_ms for s in server),
        "queue_p50_ms": _pct([r["queue_ms"] for r in ok], 50), "queue_p95_ms": _pct([r["queue_ms"] for r in ok], 95),
        "inference_p50_ms": _pct([r["inference_ms"] for r in ok], 50),
        "inference_p95_ms": _pct([r["inference_ms"] for r in ok], 95),
        "other_p95_ms": _pct([r["server_ms"] - r["queue_ms"] - r["inference_ms"] for r in ok], 95),
        "unary_p95_ms": _pct([r["server_ms"] for r in ok if r["kind"] == "unary"], 95),
        "streaming_p95_ms": _pct([r["server_ms"] for r in ok if r["kind"] == "streaming"], 95),
        **{k: round(v, 2) for k, v in cost.items()},
    }
    out["within_budget"] = bool(ok) and out["server_p95_ms"] <= budget_ms and refused <= MAX_REFUSED * len(rows)
    return out


def cost_breakdown(clips: list[Clip], model: str, n: int = 60) -> dict[str, float]:
    """Where one clip's time goes, in-process, before any server starts: each clip alone on one thread
    (as under load, where each worker has one core), split into log-mel, encoder and decoder by timing
    the engine's own steps (private attributes: a benchmark may look inside); then the default engine
    (a clip alone gets every core) back to back, and after 300 ms idle, as sparse traffic finds it."""
    audio = [np.frombuffer(c.pcm, dtype=np.int16).astype(np.float32) / 32768 for c in clips[:n]]
    out: dict[str, float] = {}
    engine: Any = create_engine(EngineOptions(model=model, solo_threads=1))
    spent = {"mel_ms": 0.0, "encoder_ms": 0.0, "decoder_ms": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += (time.perf_counter() - start) * 1000
        return wrapper

    engine._mel = timed("mel_ms", engine._mel)
    engine._encode = timed("encoder_ms", engine._encode)
    engine._decoder.decode = timed("decoder_ms", engine._decoder.decode)
    for a in audio[:3]:
        engine.transcribe(a)
    spent.update(dict.fromkeys(spent, 0.0))
    start, tokens = time.perf_counter(), 0
    for a in audio:
        tokens += engine.transcribe(a).num_tokens
    out["one_thread_total_ms"] = (time.perf_counter() - start) * 1000 / len(audio)
    out.update({f"one_thread_{k}": v / len(audio) for k, v in spent.items()})
    out["text_tokens_per_clip"] = tokens / len(audio)
    engine.close()
    engine = create_engine(EngineOptions(model=model))
    for a in audio[:3]:
        engine.transcribe(a)
    for label, idle_s in (("alone_back_to_back", 0.0), ("alone_after_idle", 0.3)):
        times = []
        for a in audio:
            time.sleep(idle_s)
            start = time.perf_counter()
            engine.transcribe(a)
            times.append((time.perf_counter() - start) * 1000)
        out[f"{label}_p50_ms"] = float(np.percentile(times, 50))
        out[f"{label}_p95_ms"] = float(np.percentile(times, 95))
    engine.close()
    return {k: round(v, 1) for k, v in out.items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _variants(specs: list[str]) -> dict[str, dict[str, str]]:
    """`NAME:KEY=VALUE,KEY=VALUE` -> {NAME: {KEY: VALUE}}; the defaults come first, as "default"."""
    variants: dict[str, dict[str, str]] = {"default": {}}
    for spec in specs:
        name, sep, pairs = spec.partition(":")
        settings = dict(pair.partition("=")[::2] for pair in pairs.split(",") if pair.strip())
        if not sep or not name or name in variants or not settings or not all(settings):
            raise SystemExit(f"--variant: expected a new NAME:KEY=VALUE[,KEY=VALUE], got {spec!r}")
        if "PYTHONPATH" in settings:  # or `-m` would import this checkout first, from the working directory
            settings.setdefault("PYTHONSAFEPATH", "1")
        variants[name] = settings
    return variants


def _capacity(summaries: list[dict[str, Any]]) -> float:
    capacity = 0.0
    for s in summaries:
        if not s["within_budget"]:
            break
        capacity = s["offered_per_s"]
    return capacity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="2,4,6,8,10", help="clips per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=45.0, help="how long each rate is offered")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                        help="also run a server with these settings in its environment "
                             "(e.g. workers2:ASR_ENGINE_NUM_WORKERS=2), against the defaults, same arrivals")
    parser.add_argument("--revisions", action="store_true",
                        help="also run a default server whose streaming sessions ask for revisions, same arrivals")
    parser.add_argument("--out", type=Path, help="also write one JSON line per clip and per rate here")
    args = parser.parse_args()
    rates = sorted(float(r) for r in args.rates.split(",") if r.strip())
    if not rates or rates[0] <= 0:
        raise SystemExit("--rates: positive numbers, e.g. 1,2,4")
    variants = _variants(args.variant)
    if args.revisions:
        if REVISED in variants:
            raise SystemExit(f"--variant: {REVISED!r} is the name --revisions uses")
        variants[REVISED] = {}
    if not (SPEECH / "manifest.jsonl").is_file():
        print(f"bench_capacity: needs the real speech in {SPEECH}", file=sys.stderr)
        return 2
    clips = load_clips(vad.VadOptions())
    print(f"{len(clips)} clips of {MIN_S:g}-{MAX_S:g} s (mean {np.mean([c.duration_s for c in clips]):.2f} s); "
          f"rates {', '.join(f'{r:g}' for r in rates)}/s for {args.seconds:g} s each; "
          f"servers: {', '.join(variants)}", flush=True)
    alone = cost_breakdown(clips, args.model)
    print(json.dumps({"summary": "one clip, in-process", **alone}), flush=True)
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    summaries: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    all_rows: list[dict[str, Any]] = []
    rss: dict[str, float] = {}
    try:
        for name, settings in variants.items():
            port = _free_port()
            servers[name] = (subprocess.Popen(
                [sys.executable, "-m", "asr_service.cli", "serve", "--port", str(port), "--model", args.model,
                 "--log-level", "ERROR", "--budget-ms", str(args.budget_ms)],
                env={**os.environ, **settings}), f"127.0.0.1:{port}")
        for server, target in servers.values():
            with AsrClient(target, timeout_s=120) as client:
                client.wait_ready(120)
            asyncio.run(run_rate(target, clips, 2.0, 4.0, args.seed - 1, server.pid))  # warm-up, not reported
        # Rate by rate, every server in turn on the same arrivals: the host's noise falls on all alike.
        for rate in rates:
            seed = args.seed * 1000 + round(rate * 100)
            for name, (server, target) in servers.items():
                rows, cost = asyncio.run(run_rate(target, clips, rate, args.seconds, seed, server.pid,
                                                  revisions=name == REVISED))
                summary = {"server": name, **summarise(rate, rows, cost, args.budget_ms)}
                summaries[name].append(summary)
                all_rows.extend({"server": name, "offered_per_s": rate, **r} for r in rows)
                print(json.dumps(summary), flush=True)
                time.sleep(1.0)
        rss = {name: _peak_rss_mb(server.pid) for name, (server, _) in servers.items()}
    finally:
        for server, _ in servers.values():
            server.terminate()
        for server, _ in servers.values():
            server.wait(30)
    # The queue alone: each server's inference times at its lowest rate, as service times of its workers.
    workers = {name: int(settings.get("ASR_ENGINE_NUM_WORKERS", 0)) or (os.cpu_count() or 1)
               for name, settings in variants.items()}
    for name in variants:
        lowest = [r["inference_ms"] for r in all_rows
                  if r["server"] == name and r["offered_per_s"] == rates[0] and r["code"] == "OK"]
        for s in summaries[name]:
            s["queue_model_p95_ms"] = queue_model_p95(lowest, s["offered_per_s"], workers[name]) if lowest else None
    if args.out:
        rates_out = [s for v in summaries.values() for s in v]
        args.out.write_text("".join(json.dumps(r) + "\n" for r in [*all_rows, *rates_out]))
    print(f"\n{'server':12} {'rate/s':>6} {'answered/s':>10} {'refused':>7} {'server p50/p95/p99 ms':>22} "
          f"{'rtt p95':>8} {'queue p95':>9} {'infer p50/p95':>13} {'other p95':>9} {'cores srv/gen':>13} "
          f"{'M/G/c p95':>9}")
    for rate_index in range(len(rates)):
        for name in variants:
            s = summaries[name][rate_index]
            print(f"{name:12} {s['offered_per_s']:6g} {s['answered_per_s']:10.2f} {s['refused']:7d} "
                  f"{s['server_p50_ms']:6.0f}/{s['server_p95_ms']:5.0f}/{s['server_p99_ms']:5.0f}     "
                  f"{s['round_trip_p95_ms']:8.0f} {s['queue_p95_ms']:9.0f} "
                  f"{s['inference_p50_ms']:6.0f}/{s['inference_p95_ms']:<6.0f} {s['other_p95_ms']:9.0f} "
                  f"{s['server_cores']:6.2f}/{s['generator_cores']:.2f} {s['queue_model_p95_ms'] or float('nan'):9.0f}")
    print(f"\nM/G/c p95: an M/G/c queue (c = the server's workers) fed the server's inference times at "
          f"{rates[0]:g}/s; where the measured p95 follows it, the latency under load is queueing for a worker")
    print(f"\none clip alone, in-process: on one thread {alone['one_thread_total_ms']:.0f} ms = log-mel "
          f"{alone['one_thread_mel_ms']:.0f} + encoder {alone['one_thread_encoder_ms']:.0f} + decoder "
          f"{alone['one_thread_decoder_ms']:.0f} ms ({alone['text_tokens_per_clip']:.1f} text tokens); default engine "
          f"p50/p95 {alone['alone_back_to_back_p50_ms']:.0f}/{alone['alone_back_to_back_p95_ms']:.0f} ms back to "
          f"back, {alone['alone_after_idle_p50_ms']:.0f}/{alone['alone_after_idle_p95_ms']:.0f} ms after 300 ms idle")
    print(f"\ncapacity within the budget (p95 server latency <= {args.budget_ms:g} ms and <= {MAX_REFUSED:.0%} "
          "refused, at every rate up to it):")
    for name in variants:
        print(f"  {name:12} {_capacity(summaries[name]):g} clips/s   "
              f"(server peak RSS {rss.get(name, float('nan')):.0f} MB)")
    if REVISED in variants:
        print(f"\n{REVISED}: revisions received / sessions' end after the last clip, per rate: " + ", ".join(
            f"{s['offered_per_s']:g}/s {s['revisions']:.0f} / {s['tail_s']:.1f} s" for s in summaries[REVISED]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
