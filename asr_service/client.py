"""Clients: `AsrClient` talks to a server over gRPC; `LocalTranscriber` runs the same recognizer in-process.

Both take clips from the client-side VAD (`vad.Clip`) and return `ClipResult`s, so the CLI, the
demo and the benchmarks treat a remote server and an in-process engine alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vad
from asr_service.audio import AudioFormat, ClipLimits, DecodedClip, decode_clip
from asr_service.config import ServerConfig
from asr_service.engines import create_engine
from asr_service.errors import ClientError
from asr_service.recognizer import RecognitionResult, Recognizer, VadStats
from asr_service.stats import SummaryStats
from protos.asr.v1 import asr_pb2, asr_pb2_grpc

__all__ = ["AsrClient", "ClipResult", "LocalTranscriber", "Transcriber", "clip_vad_stats"]


@dataclass(frozen=True, kw_only=True)
class ClipResult:
    """The answer for one clip, as the CLI prints it."""

    clip_id: str
    text: str
    confidence: float
    null_reason: str | None  # None when there is text; else e.g. "NO_SPEECH"
    model_id: str
    model_version: str
    latency_ms: dict[str, float] = field(default_factory=dict)  # queue_wait, inference, total, budget
    budget_exceeded: bool = False
    audio: dict[str, float] = field(default_factory=dict)  # duration_s, rms_dbfs, peak_dbfs, clipped_ratio
    round_trip_ms: float = 0.0  # measured by the client: request sent -> result received

    @classmethod
    def from_message(cls, msg: asr_pb2.RecognitionResult, round_trip_ms: float) -> ClipResult:
        """From an `asr.v1.RecognitionResult`."""
        return cls(
            clip_id=msg.clip_id,
            text=msg.text,
            confidence=round(msg.confidence, 4),
            null_reason=None if msg.null_reason == 0 else asr_pb2.NullReason.Name(msg.null_reason),
            model_id=msg.model.model_id,
            model_version=msg.model.model_version,
            latency_ms=_latency(msg.latency.queue_wait_ms, msg.latency.inference_ms,
                                msg.latency.server_total_ms, msg.latency.budget_ms),
            budget_exceeded=msg.latency.budget_exceeded,
            audio=_audio(msg.audio.duration_s, msg.audio.rms_dbfs, msg.audio.peak_dbfs, msg.audio.clipped_ratio),
            round_trip_ms=round(round_trip_ms, 2),
        )

    @classmethod
    def from_result(cls, result: RecognitionResult, round_trip_ms: float) -> ClipResult:
        """From the recognizer's own result (in-process)."""
        lat = result.latency
        return cls(
            clip_id=result.clip_id,
            text=result.text,
            confidence=round(result.confidence, 4),
            null_reason=None if result.null_reason.value == 0 else result.null_reason.name,
            model_id=result.model.model_id,
            model_version=result.model.model_version,
            latency_ms=_latency(lat.queue_wait_ms, lat.inference_ms, lat.server_total_ms, lat.budget_ms),
            budget_exceeded=lat.budget_exceeded,
            audio=_audio(result.audio.duration_s, result.audio.rms_dbfs, result.audio.peak_dbfs,
                         result.audio.clipped_ratio),
            round_trip_ms=round(round_trip_ms, 2),
        )


def _latency(queue: float, inference: float, total: float, budget: float) -> dict[str, float]:
    return {"queue_wait": round(queue, 2), "inference": round(inference, 2), "total": round(total, 2),
            "budget": round(budget, 2)}


def _audio(duration_s: float, rms: float, peak: float, clipped: float) -> dict[str, float]:
    return {"duration_s": round(duration_s, 3), "rms_dbfs": round(rms, 2), "peak_dbfs": round(peak, 2),
            "clipped_ratio": round(clipped, 5)}


def decode_vad_clip(clip: vad.Clip, limits: ClipLimits, *, pitch: bool = False) -> DecodedClip:
    """A client VAD clip (16 kHz mono PCM) as the server decodes and measures a request's audio."""
    return decode_clip(clip.to_bytes(), AudioFormat(sample_rate_hz=vad.SAMPLE_RATE_HZ), limits, allow_empty=True,
                       pitch=pitch)


def clip_vad_stats(clip: vad.Clip) -> VadStats:
    """What the client VAD measured for `clip`, as the protocol carries it (whole milliseconds)."""
    s = clip.stats
    return VadStats(
        speech_ratio=s.speech_ratio,
        pre_padding_ms=int(s.pre_padding_ms),
        post_padding_ms=int(s.post_padding_ms),
        gain_db=s.gain_db,
        split=s.split,
        start_s=clip.start_s,
    )


def _vad_message(clip: vad.Clip) -> asr_pb2.VadStats:
    return asr_pb2.VadStats(**dataclasses.asdict(clip_vad_stats(clip)))


class Transcriber(Protocol):
    """Anything that turns a VAD clip into a result: a remote server or an in-process engine."""

    def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> ClipResult:
        """Transcribe one clip."""
        ...

    def close(self) -> None:
        """Release the channel or the model."""
        ...


class AsrClient:
    """One object that owns the channel to a server; a method per call.

    `target` is "host:port". Every failure (unreachable server, refused request) is raised as
    `ClientError` with the status code and the server's message.
    """

    def __init__(self, target: str, *, timeout_s: float = 30.0) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(target)
        self._stub = asr_pb2_grpc.RecognizerStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __enter__(self) -> AsrClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Block until the server's health check says SERVING (the model is loaded)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                reply = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError as exc:
                if time.monotonic() > deadline:
                    raise self._error(exc) from exc
            if time.monotonic() > deadline:
                raise ClientError(f"server {self.target}: not SERVING after {timeout_s:g} s")
            time.sleep(0.1)

    def recognize(
        self,
        pcm: bytes,
        *,
        sample_rate_hz: int = vad.SAMPLE_RATE_HZ,
        channels: int = 1,
        clip_id: str = "",
        vad_stats: asr_pb2.VadStats | None = None,
        model_id: str = "",
    ) -> ClipResult:
        """Send one clip of LINEAR16 `pcm` with `Recognize`."""
        request = asr_pb2.RecognizeRequest(
            request_id=uuid.uuid4().hex,
            clip_id=clip_id,
            config=asr_pb2.RecognitionConfig(
                format=asr_pb2.AudioFormat(
                    encoding=asr_pb2.LINEAR16, sample_rate_hz=sample_rate_hz, channels=channels
                ),
                model_id=model_id,
            ),
            audio=pcm,
            vad_stats=vad_stats,
        )
        sent = time.perf_counter()
        try:
            reply = self._stub.Recognize(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        return ClipResult.from_message(reply.result, (time.perf_counter() - sent) * 1000.0)

    def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> ClipResult:
        """Send a VAD clip, with the VAD's stats, with `Recognize`."""
        return self.recognize(clip.to_bytes(), clip_id=clip_id or str(clip.index), vad_stats=_vad_message(clip))

    def stream(
        self, clips: Iterable[vad.Clip], *, chunk_ms: int = 100, model_id: str = "", lockstep: bool = False
    ) -> Iterator[ClipResult]:
        """Send clips over one `StreamingRecognize` session, as chunks with end-of-utterance marks.

        Results come back in clip order; each one's `round_trip_ms` runs from its end-of-utterance
        chunk to its result. The server answers a session's clips one after another, so clips sent
        faster than they are transcribed wait behind each other; `lockstep` sends a clip only after
        the previous one's result, as a live source (whose clips are spaced by speech) would.
        """
        marks: list[float] = []
        answered = threading.Semaphore(0)

        def requests() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
            yield asr_pb2.StreamingRecognizeRequest(
                request_id=uuid.uuid4().hex,
                config=asr_pb2.RecognitionConfig(
                    format=asr_pb2.AudioFormat(encoding=asr_pb2.LINEAR16, sample_rate_hz=vad.SAMPLE_RATE_HZ),
                    model_id=model_id,
                ),
            )
            step = vad.SAMPLE_RATE_HZ * chunk_ms // 1000 * 2
            for n, clip in enumerate(clips):
                if lockstep and n:
                    answered.acquire()
                data = clip.to_bytes()
                for i in range(0, max(len(data), 1), step):
                    last = i + step >= len(data)
                    if last:  # before the yield: the generator resumes only when gRPC wants more
                        marks.append(time.perf_counter())
                    yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(
                        clip_id=str(clip.index), data=data[i:i + step], end_of_utterance=last,
                        vad_stats=_vad_message(clip) if last else None,
                    ))

        try:
            for reply in self._stub.StreamingRecognize(requests(), timeout=None):
                done = time.perf_counter()
                sent = marks.pop(0) if marks else done
                answered.release()
                yield ClipResult.from_message(reply.result, (done - sent) * 1000.0)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc

    def list_models(self) -> asr_pb2.ListModelsResponse:
        """The served models and the server's limits."""
        try:
            reply: asr_pb2.ListModelsResponse = self._stub.ListModels(
                asr_pb2.ListModelsRequest(), timeout=self.timeout_s
            )
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        return reply

    def _error(self, exc: grpc.RpcError) -> ClientError:
        code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        if code == grpc.StatusCode.UNAVAILABLE and "connect" in (details or "").lower():
            return ClientError(f"server {self.target}: unreachable ({details})", code=code.name)
        return ClientError(f"server {self.target}: {code.name}: {details}", code=code.name)


class LocalTranscriber:
    """Runs the recognizer in this process (no server), with the same results as a server gives.

    Thread-safe: the recognizer runs on an event loop in a helper thread, so `recognize_clip` may be
    called from any number of threads (and from inside a running event loop, e.g. Jupyter); the
    recognizer's pool transcribes `engine.num_workers` clips at a time.
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self._config = config or ServerConfig()
        self.stats = SummaryStats()
        self._recognizer = Recognizer(create_engine(self._config.engine), self._config, observers=(self.stats,))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asr-local-loop", daemon=True)
        self._thread.start()

    @property
    def recognizer(self) -> Recognizer:
        """The in-process recognizer."""
        return self._recognizer

    def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> ClipResult:
        """Transcribe one VAD clip in-process; blocks the calling thread only."""
        started = time.perf_counter()
        decoded = decode_vad_clip(clip, self._config.clip_limits)
        coro = self._recognizer.recognize(
            decoded, clip_id=clip_id or str(clip.index), received_at=started, vad=clip_vad_stats(clip)
        )
        result = asyncio.run_coroutine_threadsafe(coro, self._loop).result()
        return ClipResult.from_result(result, (time.perf_counter() - started) * 1000.0)

    def close(self) -> None:
        """Release the model and stop the helper thread."""
        self._recognizer.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
