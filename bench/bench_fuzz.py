"""Fuzz a live server: generated, mutated and random inputs to both RPCs, every status code counted.

    python bench/bench_fuzz.py [--inputs 10000] [--seed 0] [--engine fake|real] [--target HOST:PORT]

Starts a server in this process (the embedded model with `--engine real`; a fake engine that answers at
once by default, since what is fuzzed is everything before and after the model), unless `--target`
names one. Inputs, in turn:

- generated messages: every field of `RecognizeRequest` / `StreamingRecognizeRequest` drawn from
  values that break things (empty, huge, control characters and odd Unicode in strings; NaN, ±inf,
  negative and huge floats; extreme ints and unknown enum values; audio of odd lengths, wrong rates,
  many channels), streams with messages in any order;
- mutations of valid messages' bytes (bits flipped, bytes cut, inserted, duplicated);
- random bytes on the wire, sent as the request message of either RPC.

Prints the count of every status code seen, per kind of input. A failure is: `INTERNAL` or
`UNKNOWN` (our code let something through), an input that gets no answer within its deadline, or a
server that stops answering health with SERVING (checked every 500 inputs and at the end). Exit 1 on
any failure. `tests/asr_service/server/test_fuzz.py` runs a short pass (a few hundred inputs).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from asr_service.config import ServerConfig  # noqa: E402
from asr_service.engines.base import EngineInfo, Transcription  # noqa: E402
from asr_service.server import BackgroundServer  # noqa: E402
from protos.asr.v1 import asr_pb2  # noqa: E402

BAD = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
_STRINGS = ["", "a", "x" * 129, "x" * 5000, "line\nbreak", "tab\there", "\x00nul", "é" * 200, "\u202e" + "rtl",
            "🙂" * 40, "../../etc/passwd", "%s%n", "tiny.en", "whisper-tiny.en"]
_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 1e300, math.nan, math.inf, -math.inf, 3.4e38, -5.0]
_INTS = [0, 1, -1, 8000, 16000, 48000, 2**31 - 1, -(2**31), 44100, 7, 192001]


class _FakeEngine:
    """Answers at once: the fuzz is about the server around the model."""

    info = EngineInfo(model_id="fuzz", model_version="fuzz-1", engine="fuzz", config_hash="0")

    def transcribe(self, audio: object, *, context: str = "", language: str = "") -> Transcription:
        return Transcription(text="fuzz", confidence=0.9, no_speech_prob=0.01, avg_logprob=-0.1, num_tokens=1,
                             window_s=10.0, used_fallback=False, degenerate=False)

    def close(self) -> None:
        pass


@dataclass
class Tally:
    """Status codes seen, per kind of input, and the failures."""

    codes: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, kind: str, code: grpc.StatusCode, detail: str) -> None:
        self.codes.setdefault(kind, Counter())[code.name] += 1
        if code in BAD:
            self.failures.append(f"{kind}: {code.name}: {detail[:200]}")


class Inputs:
    """Deterministic inputs from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, values: list[object] | tuple[object, ...]) -> object:
        return values[self.rng.randrange(len(values))]

    def audio(self) -> bytes:
        n = self.pick([0, 1, 2, 3, 320, 16_000, 32_001, 160_000])
        assert isinstance(n, int)
        return self.rng.randbytes(n)

    def audio_format(self) -> asr_pb2.AudioFormat:
        fmt = asr_pb2.AudioFormat()
        if self.rng.random() < 0.9:
            fmt.encoding = int(self.pick([0, 1, 1, 1, 2, 99]))  # type: ignore[assignment]
        if self.rng.random() < 0.9:
            fmt.sample_rate_hz = int(self.pick(_INTS))  # type: ignore[arg-type]
        if self.rng.random() < 0.5:
            fmt.channels = int(self.pick([0, 1, 2, 3, 8, 255, 2**31 - 1]))  # type: ignore[arg-type]
        return fmt

    def config(self) -> asr_pb2.RecognitionConfig:
        config = asr_pb2.RecognitionConfig()
        if self.rng.random() < 0.9:
            config.format.CopyFrom(self.audio_format())
        if self.rng.random() < 0.3:
            config.model_id = str(self.pick(_STRINGS))
        return config

    def vad(self) -> asr_pb2.VadStats:
        return asr_pb2.VadStats(
            speech_ratio=float(self.pick(_FLOATS)), pre_padding_ms=int(self.pick(_INTS)),  # type: ignore[arg-type]
            post_padding_ms=int(self.pick(_INTS)), gain_db=float(self.pick(_FLOATS)),  # type: ignore[arg-type]
            split=self.rng.random() < 0.5, start_s=float(self.pick(_FLOATS)))  # type: ignore[arg-type]

    def recognize_request(self) -> asr_pb2.RecognizeRequest:
        request = asr_pb2.RecognizeRequest(audio=self.audio())
        if self.rng.random() < 0.5:
            request.request_id = str(self.pick(_STRINGS))
        if self.rng.random() < 0.3:
            request.clip_id = str(self.pick(_STRINGS))
        if self.rng.random() < 0.9:
            request.config.CopyFrom(self.config())
        if self.rng.random() < 0.4:
            request.vad_stats.CopyFrom(self.vad())
        return request

    def stream(self) -> list[asr_pb2.StreamingRecognizeRequest]:
        messages = []
        for i in range(self.rng.randrange(0, 6)):
            message = asr_pb2.StreamingRecognizeRequest()
            if self.rng.random() < 0.3:
                message.request_id = str(self.pick(_STRINGS))
            if (i == 0 and self.rng.random() < 0.8) or self.rng.random() < 0.1:
                message.config.CopyFrom(self.config())
            elif self.rng.random() < 0.95:
                message.audio.CopyFrom(asr_pb2.AudioChunk(
                    clip_id=str(self.pick(_STRINGS)) if self.rng.random() < 0.3 else "", data=self.audio(),
                    end_of_utterance=self.rng.random() < 0.5,
                    vad_stats=self.vad() if self.rng.random() < 0.3 else None))
            messages.append(message)
        return messages

    def mutate(self, data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.randrange(1, 6)):
            op = self.rng.randrange(4)
            at = self.rng.randrange(len(out) + 1)
            if op == 0 and out:
                out[min(at, len(out) - 1)] ^= 1 << self.rng.randrange(8)
            elif op == 1:
                del out[at:at + self.rng.randrange(1, 8)]
            elif op == 2:
                out[at:at] = self.rng.randbytes(self.rng.randrange(1, 8))
            else:
                out[at:at] = out[max(0, at - 8):at]
        return bytes(out)


def _identity(data: bytes) -> bytes:
    return data


def run(target: str, count: int, seed: int, tally: Tally, *, progress: Callable[[int], None] | None = None) -> None:
    """Send `count` inputs to the server at `target`, tallying the answers."""
    inputs = Inputs(seed)
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        recognize = channel.unary_unary("/asr.v1.Recognizer/Recognize", request_serializer=_identity,
                                        response_deserializer=_identity)
        streaming = channel.stream_stream("/asr.v1.Recognizer/StreamingRecognize", request_serializer=_identity,
                                          response_deserializer=_identity)
        health = health_pb2_grpc.HealthStub(channel)
        for i in range(count):
            kind = ("recognize", "stream", "mutated-recognize", "mutated-stream", "random-bytes")[i % 5]
            if kind == "recognize":
                _unary(recognize, inputs.recognize_request().SerializeToString(), kind, tally)
            elif kind == "mutated-recognize":
                _unary(recognize, inputs.mutate(inputs.recognize_request().SerializeToString()), kind, tally)
            elif kind == "stream":
                _stream(streaming, [m.SerializeToString() for m in inputs.stream()], kind, tally)
            elif kind == "mutated-stream":
                _stream(streaming, [inputs.mutate(m.SerializeToString()) for m in inputs.stream()], kind, tally)
            else:
                data = inputs.rng.randbytes(inputs.rng.randrange(0, 2048))
                if i % 2:
                    _unary(recognize, data, kind, tally)
                else:
                    _stream(streaming, [data], kind, tally)
            if (i + 1) % 500 == 0 or i + 1 == count:
                _check_health(health, tally, i + 1)
                if progress is not None:
                    progress(i + 1)


def _unary(call: grpc.UnaryUnaryMultiCallable, data: bytes, kind: str, tally: Tally) -> None:
    try:
        call(data, timeout=10)
        tally.add(kind, grpc.StatusCode.OK, "")
    except grpc.RpcError as exc:
        _answered(exc, kind, tally)


def _stream(call: grpc.StreamStreamMultiCallable, messages: list[bytes], kind: str, tally: Tally) -> None:
    try:
        for _ in call(iter(messages), timeout=10):
            pass
        tally.add(kind, grpc.StatusCode.OK, "")
    except grpc.RpcError as exc:
        _answered(exc, kind, tally)


def _answered(exc: grpc.RpcError, kind: str, tally: Tally) -> None:
    code = exc.code()
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        tally.failures.append(f"{kind}: no answer within 10 s")
    tally.add(kind, code, exc.details() or "")


def _check_health(health: health_pb2_grpc.HealthStub, tally: Tally, done: int) -> None:
    try:
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
    except grpc.RpcError as exc:
        tally.failures.append(f"after {done} inputs: health check failed ({exc.code().name})")
        return
    if status != health_pb2.HealthCheckResponse.SERVING:
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
        tally.failures.append(f"after {done} inputs: health is {name}")


def serve(engine: str) -> BackgroundServer:
    """A server in this process: the embedded model, or the fake engine."""
    config = ServerConfig(port=0, shutdown_notice_s=0.0, max_concurrent_requests=64)
    if engine == "real":
        return BackgroundServer(config).start()
    return BackgroundServer(config, engine_factory=lambda _: _FakeEngine()).start()  # type: ignore[arg-type,return-value]


def report(tally: Tally, elapsed_s: float) -> Iterator[str]:
    """The printed summary."""
    codes = sorted({c for counter in tally.codes.values() for c in counter})
    total = sum(sum(c.values()) for c in tally.codes.values())
    yield f"{total} inputs in {elapsed_s:.0f} s"
    yield f"{'input':20}" + "".join(f"{c:>20}" for c in codes)
    for kind, counter in tally.codes.items():
        yield f"{kind:20}" + "".join(f"{counter.get(c, 0):>20}" for c in codes)
    yield f"failures: {len(tally.failures)}"
    yield from (f"  {f}" for f in tally.failures[:30])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=("fake", "real"), default="fake")
    parser.add_argument("--target", help="fuzz this server instead of starting one")
    args = parser.parse_args()
    server = None if args.target else serve(args.engine)
    target = args.target or (server.target if server else "")
    tally = Tally()
    started = time.monotonic()
    try:
        run(target, args.inputs, args.seed, tally,
            progress=lambda n: print(f"{n} inputs, {len(tally.failures)} failures", file=sys.stderr, flush=True))
    finally:
        if server is not None:
            server.stop(2.0)
    for line in report(tally, time.monotonic() - started):
        print(line)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
