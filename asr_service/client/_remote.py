"""`AsrClient`: one object that owns the channel to a server, a method per call. The only gRPC code of
the client side; its results are the same `ClipResult`s the in-process transcriber gives."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vad
from asr_service.client._clips import clip_vad_stats
from asr_service.client._result import ClipResult, audio_dict, latency_dict
from asr_service.errors import ClientError
from protos.asr.v1 import asr_pb2, asr_pb2_grpc

__all__ = ["AsrClient"]


def _result(msg: asr_pb2.RecognitionResult, round_trip_ms: float) -> ClipResult:
    """From an `asr.v1.RecognitionResult`."""
    return ClipResult(
        clip_id=msg.clip_id,
        text=msg.text,
        confidence=round(msg.confidence, 4),
        null_reason=None if msg.null_reason == 0 else asr_pb2.NullReason.Name(msg.null_reason),
        model_id=msg.model.model_id,
        model_version=msg.model.model_version,
        latency_ms=latency_dict(msg.latency.queue_wait_ms, msg.latency.inference_ms,
                                msg.latency.server_total_ms, msg.latency.budget_ms),
        budget_exceeded=msg.latency.budget_exceeded,
        audio=audio_dict(msg.audio.duration_s, msg.audio.rms_dbfs, msg.audio.peak_dbfs, msg.audio.clipped_ratio),
        round_trip_ms=round(round_trip_ms, 2),
    )


def _vad_message(clip: vad.Clip) -> asr_pb2.VadStats:
    return asr_pb2.VadStats(**dataclasses.asdict(clip_vad_stats(clip)))


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
        return _result(reply.result, (time.perf_counter() - sent) * 1000.0)

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
                yield _result(reply.result, (done - sent) * 1000.0)
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
