"""The recognizer: admission control, a worker pool sized for the cores, null reasons, latency.

It sits between the servicers (which only translate gRPC messages) and an engine (which only
turns audio into text). It knows nothing of gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import heapq
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asr_service.audio import AudioStats, DecodedClip
from asr_service.config import ServerConfig
from asr_service.engines.base import Engine, EngineInfo, Transcription, mark_background_thread
from asr_service.errors import AsrError, ModelFailedError, OverloadedError, ProtocolError, UnavailableError

__all__ = ["Latency", "NullReason", "Observer", "RecognitionResult", "Recognizer", "SessionContext", "VadStats"]

logger = logging.getLogger(__name__)


class NullReason(enum.Enum):
    """Why a result has no text (values match `asr.v1.NullReason`)."""

    NONE = 0
    EMPTY_AUDIO = 1
    TOO_QUIET = 2
    NO_SPEECH = 3
    HALLUCINATION_SUPPRESSED = 4

    def to_json(self) -> str | None:
        """As JSON output writes it: the name ("NO_SPEECH"), or null when there is text."""
        return None if self is NullReason.NONE else self.name

    @classmethod
    def from_json(cls, value: str | None) -> NullReason:
        """The inverse of `to_json` (ValueError for a name that is not a reason)."""
        if value is None:
            return cls.NONE
        try:
            return cls[value]
        except KeyError:
            raise ValueError(f"null_reason: {value!r} is not one of {', '.join(r.name for r in cls)}") from None


@dataclass(frozen=True, kw_only=True)
class VadStats:
    """What the client-side VAD reported about a clip (a result without any has `vad=None`)."""

    speech_ratio: float = 0.0
    pre_padding_ms: int = 0
    post_padding_ms: int = 0
    gain_db: float = 0.0
    split: bool = False
    start_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Where the time of one request went, against the budget."""

    queue_wait_ms: float
    inference_ms: float
    server_total_ms: float
    budget_ms: float

    @property
    def budget_exceeded(self) -> bool:
        """True when the server's total exceeded the budget."""
        return self.server_total_ms > self.budget_ms


@dataclass(frozen=True, kw_only=True)
class RecognitionResult:
    """The answer for one clip."""

    clip_id: str
    text: str
    confidence: float
    null_reason: NullReason
    no_speech_prob: float
    model: EngineInfo
    role: str
    latency: Latency
    audio: AudioStats
    vad: VadStats | None  # None when the client sent no VAD stats
    used_fallback: bool = False
    language: str = "en"  # the language of the text (asked for, or detected)

    def null_on_speech(self, min_speech_ratio: float) -> bool:
        """No text for a clip the client VAD judged to be speech (speech ratio at least `min_speech_ratio`):
        the VAD and the model disagree, one of them is wrong (monitoring counts these apart)."""
        return (self.null_reason is not NullReason.NONE and self.vad is not None
                and self.vad.speech_ratio >= min_speech_ratio)


Observer = Callable[["RecognitionResult"], None]


class SessionContext:
    """The text a session carries from one clip to the next, for `Recognizer.recognize(context=...)`.

    Each trusted result's text is appended (the engine keeps only the end of it as Whisper's
    previous-text prompt). A result that may be wrong clears it, so that one bad transcript does
    not steer the next clip: a suppressed hallucination, a decode that needed a fallback, or a
    confidence below `min_confidence` (as Whisper drops its prompt after a temperature fallback).
    A clip with nothing in it (no speech, too quiet, empty) leaves it as it was. `enabled=False`
    keeps it empty.
    """

    MAX_CHARS = 2_000  # far more than any engine's prompt: the engine takes the last tokens

    def __init__(self, *, enabled: bool, min_confidence: float) -> None:
        self.enabled = enabled
        self.min_confidence = min_confidence
        self.text = ""

    def update(self, result: RecognitionResult) -> None:
        """Take `result` into the context for the session's next clip."""
        if not self.enabled:
            return
        if result.null_reason in (NullReason.NO_SPEECH, NullReason.TOO_QUIET, NullReason.EMPTY_AUDIO):
            return
        if (result.null_reason is NullReason.HALLUCINATION_SUPPRESSED or result.used_fallback
                or result.confidence < self.min_confidence):
            self.text = ""
            return
        self.text = f"{self.text} {result.text}".strip()[-self.MAX_CHARS:]


class Recognizer:
    """Runs one engine on a bounded worker pool and turns its output into results.

    `max_concurrent_requests` counts clips being transcribed plus clips waiting for a worker;
    past it, `recognize` raises OverloadedError at once. The pool has `engine.num_workers`
    threads: CTranslate2 releases the GIL, and each worker uses `cpu_threads` cores, so the pool
    never asks for more cores than the machine has.
    """

    def __init__(
        self,
        engine: Engine,
        config: ServerConfig,
        *,
        role: str = "primary",
        observers: tuple[Observer, ...] = (),
        model_id: str | None = None,
    ) -> None:
        """`model_id`: the id the model is served under, when it is not the engine's own (a deployment
        serving one source twice under two ids)."""
        self._engine = engine
        self._info = engine.info if model_id is None else dataclasses.replace(engine.info, model_id=model_id)
        self._observers = observers
        self._config = config
        self._role = role
        self._pool = ThreadPoolExecutor(
            max_workers=config.engine.num_workers, thread_name_prefix=f"asr-{role}"
        )
        self._background_pool: ThreadPoolExecutor | None = None  # one low-priority thread, made when first used
        self._revisions_waiting = 0  # second passes (`revise`) queued or running on that thread
        self._in_flight = 0
        self._running: dict[object, float] = {}  # foreground clips on a worker now: when each started
        self._workers = max(1, config.engine.num_workers)
        self._closed = False
        self._mean_inference_ms: float | None = None  # exponentially weighted, over the last ~20 clips

    @property
    def mean_inference_ms(self) -> float | None:
        """Recent clips' inference time (an exponential average), None before the first clip."""
        return self._mean_inference_ms

    @property
    def info(self) -> EngineInfo:
        """The identity of the model, as results name it."""
        return self._info

    @property
    def role(self) -> str:
        """primary, canary, shadow or standby: the role the deployment gives the model now (a result carries
        the role its request was routed under, which a change during the request does not rewrite)."""
        return self._role

    @role.setter
    def role(self, value: str) -> None:
        self._role = value

    def check_language(self, language: str) -> str:
        """`language` as the engine takes it: "" (the default), "auto", or one of `info.languages`;
        ProtocolError naming the field otherwise."""
        if language in ("", "auto") or language in self._info.languages:
            return language
        info = self._info
        offered = "'en' (an English-only model)" if not info.multilingual else f"{len(info.languages)} ISO 639-1 codes"
        raise ProtocolError(f"config.language: {language[:16]!r} is not a language {info.model_id} transcribes "
                            f"(it takes '', 'auto' or {offered}; ListModels lists them)")

    @property
    def in_flight(self) -> int:
        """Clips being transcribed or waiting for a worker."""
        return self._in_flight

    async def recognize(
        self,
        clip: DecodedClip,
        *,
        clip_id: str,
        received_at: float,
        vad: VadStats | None = None,
        context: str = "",
        language: str = "",
        role: str | None = None,
        background: bool = False,
    ) -> RecognitionResult:
        """Transcribe `clip`. `received_at` is `time.perf_counter()` when its last byte arrived;
        `context` is the text said before it in its session (`SessionContext.text`), or ""; `language`
        one `check_language` passed; `role` the role the result carries (default: the model's role now).
        `background`: work no user waits for (a shadow's clip), run on one thread of the lowest CPU priority
        that the engine keeps off its all-cores path, so that it takes only cores the other work leaves.

        ModelFailedError when the engine raises (a broken model or a bug: logged here with its traceback)."""
        if self._closed:
            raise UnavailableError(f"server: the model {self._info.model_id} was unloaded or the server is shutting "
                                   "down; retry (on another server if this one is draining)")
        if self._in_flight >= self._config.max_concurrent_requests:
            raise OverloadedError(
                f"server: {self._in_flight} requests in flight, the limit is "
                f"max_concurrent_requests={self._config.max_concurrent_requests}; retry later",
                self._retry_after_ms(self._in_flight - self._config.max_concurrent_requests + 1),
            )
        self._admit_within_budget()
        self._in_flight += 1
        try:
            result = await self._recognize(clip, clip_id=clip_id, received_at=received_at, vad=vad, context=context,
                                           language=language, role=role or self._role, background=background)
        except Exception as exc:
            if isinstance(exc, AsrError):
                raise
            logger.exception("model %s failed on clip %r", self._info.model_version, clip_id[:64])
            raise ModelFailedError(f"server: the model {self._info.model_id} failed on this clip "
                                   f"({type(exc).__name__}); retry, and report it if it lasts") from exc
        finally:
            self._in_flight -= 1
        for observe in self._observers:
            observe(result)
        return result

    MAX_REVISIONS_WAITING = 4
    """`revise` declines while this many second passes are queued or running: on a busy host the background
    thread gets little CPU, and a session waits for its last revision before its stream closes."""

    async def revise(
        self, samples: npt.NDArray[np.float32], *, language: str = "", queue: bool = False
    ) -> tuple[Transcription, float] | None:
        """A second pass over a session's joined clips (asr_service/revisions.py): the engine's transcription
        and its inference time in ms, run as background work (one thread at the lowest CPU priority, like a
        shadow's clips), so that it takes only the cores that answering clips leaves. Not a request: no
        admission control, no observers (the metrics count clips, not second passes). None when the recognizer
        is closed or, unless `queue` (a caller that would rather wait than go without: the in-process
        transcriber of a file), `MAX_REVISIONS_WAITING` passes are waiting already."""
        if self._closed or (not queue and self._revisions_waiting >= self.MAX_REVISIONS_WAITING):
            return None
        self._revisions_waiting += 1
        try:
            done, started_at, ended_at = await self._transcribe(samples, "", language, background=True)
        finally:
            self._revisions_waiting -= 1
        return done, (ended_at - started_at) * 1000.0

    def _admit_within_budget(self) -> None:
        """Refuse a clip that would wait past the budget (`ServerConfig.admission = "budget"`).

        With every worker busy, the clip waits for a worker: each busy worker is done about `mean` ms (the
        recent inference time) after it started its clip, and each clip queued ahead of this one takes the
        first worker to be free for `mean` more. The clip then takes `mean` itself. Past `budget_ms x
        admission_headroom` it is refused now, with RESOURCE_EXHAUSTED, instead of answered late: the count
        limit alone let 8 clips in, whose answers took up to 4x the budget under overload.

        Where the workers are in their clips counts: a worker that started `mean` ms ago is about to be free,
        one that just started is not. An earlier estimate that ignored it (a worker free every mean/W ms)
        admitted clips that would be late when every worker had just started, and refused some that would
        have been in time when one was nearly done. On a 2-vCPU AVX2 host this one refused about as many
        clips and answered fewer late (docs/capacity.md).
        """
        mean = self._mean_inference_ms
        waiting = self._in_flight - self._workers
        if self._config.admission != "budget" or mean is None or waiting < 0:
            return
        expected_ms = self._wait_ms(mean, time.perf_counter()) + mean
        limit_ms = self._config.budget_ms * self._config.admission_headroom
        if expected_ms > limit_ms:
            raise OverloadedError(
                f"server: a clip admitted now would be answered in about {expected_ms:.0f} ms ({self._in_flight} in "
                f"flight, {mean:.0f} ms each), past budget_ms x admission_headroom = {limit_ms:.0f} ms; retry shortly",
                self._retry_after_ms(math.ceil((expected_ms - limit_ms) * self._workers / mean)),
            )

    def _wait_ms(self, mean: float, now: float) -> float:
        """How long a clip admitted at `now` would wait for a worker: the busy workers are free `mean` ms after
        they started (at once if already past it), idle ones at once; each clip queued ahead takes the first
        free worker for `mean` ms (a queue simulated with the workers' free times)."""
        started = list(self._running.values())[: self._workers]
        free = sorted([max(0.0, mean - (now - at) * 1000.0) for at in started]
                      + [0.0] * (self._workers - len(started)))
        for _ in range(max(0, self._in_flight - len(started))):  # the clips queued ahead of this one
            heapq.heapreplace(free, free[0] + mean)
        return free[0]

    def _retry_after_ms(self, clips: int) -> int | None:
        """About when `clips` of the clips in flight will have finished (a worker frees up every mean/W ms):
        the hint a refused client gets for its retry; None before the first clip."""
        mean = self._mean_inference_ms
        if mean is None:
            return None
        return max(1, math.ceil(max(1, clips) * mean / self._workers))

    async def _recognize(
        self, clip: DecodedClip, *, clip_id: str, received_at: float, vad: VadStats | None, context: str,
        language: str, role: str, background: bool,
    ) -> RecognitionResult:
        transcription: Transcription | None = None
        queue_wait_s = inference_s = 0.0
        reason = self._skip_reason(clip)
        if reason is NullReason.NONE:
            submitted_at = time.perf_counter()
            done, started_at, ended_at = await self._transcribe(clip.samples, context, language, background)
            queue_wait_s = started_at - submitted_at
            inference_s = ended_at - started_at
            reason = self._null_reason(done)
            transcription = done
        total_ms = (time.perf_counter() - received_at) * 1000.0
        if transcription is not None:
            ms = inference_s * 1000.0
            previous = self._mean_inference_ms
            self._mean_inference_ms = ms if previous is None else previous + 0.05 * (ms - previous)
        text = transcription.text if transcription and reason is NullReason.NONE else ""
        return RecognitionResult(
            clip_id=clip_id,
            text=text,
            confidence=transcription.confidence if transcription and text else 0.0,
            null_reason=reason,
            no_speech_prob=transcription.no_speech_prob if transcription else 1.0,
            model=self._info,
            role=role,
            language=transcription.language if transcription else (language if language not in ("", "auto")
                                                                   else self._info.languages[0]),
            latency=Latency(
                queue_wait_ms=queue_wait_s * 1000.0,
                inference_ms=inference_s * 1000.0,
                server_total_ms=total_ms,
                budget_ms=self._config.budget_ms,
            ),
            audio=clip.stats,
            vad=vad,
            used_fallback=transcription.used_fallback if transcription else False,
        )

    async def _transcribe(
        self, samples: npt.NDArray[np.float32], context: str, language: str, background: bool
    ) -> tuple[Transcription, float, float]:
        """Run the engine on the pool. A cancelled caller (deadline, disconnect) drops its job if it
        is still queued; a worker that has started cannot be stopped, so its slot stays counted until
        the worker is done: admission control must not let in more work than the pool is doing."""
        pool = self._pool
        if background:
            if self._background_pool is None:
                self._background_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr-background",
                                                           initializer=_become_background)
            pool = self._background_pool
        job = pool.submit(_timed_transcribe, self._engine, samples, context, language,
                          None if background else self._running)
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            if not job.cancel():  # running: released by _release_after, once the worker is done
                self._in_flight += 1
                loop = asyncio.get_running_loop()
                job.add_done_callback(lambda done: loop.call_soon_threadsafe(self._release_after, done))
            raise

    def _release_after(self, job: Future[tuple[Transcription, float, float]]) -> None:
        self._in_flight -= 1
        if job.exception() is not None:
            logger.warning("transcription of a cancelled request failed: %r", job.exception())

    def _skip_reason(self, clip: DecodedClip) -> NullReason:
        """Reasons to answer without running the model at all."""
        if clip.samples.size == 0:
            return NullReason.EMPTY_AUDIO
        if clip.stats.rms_dbfs < self._config.volume_floor_dbfs:
            return NullReason.TOO_QUIET
        return NullReason.NONE

    def _null_reason(self, t: Transcription) -> NullReason:
        if t.degenerate:
            return NullReason.HALLUCINATION_SUPPRESSED
        # The engine applies its model's own silence rule (Whisper's: no-speech prob > 0.6 and avg
        # logprob < -1, `DecodeOptions`) and answers with no text.
        if not t.text:
            return NullReason.NO_SPEECH
        return NullReason.NONE

    def close(self, *, wait: bool = True) -> None:
        """Refuse new clips, let running ones finish (when `wait`), and release the engine."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
        if self._background_pool is not None:
            self._background_pool.shutdown(wait=wait, cancel_futures=True)
        self._engine.close()


def _become_background() -> None:
    """The background thread's start: marked for the engines, and at the lowest CPU priority (nice 19: under
    contention the scheduler gives it about 1.5 % of what a normal thread gets). Without the right to change
    its priority (an unusual sandbox), it runs marked but at normal priority."""
    mark_background_thread()
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: one thread's nice value


def _timed_transcribe(
    engine: Engine, samples: npt.NDArray[np.float32], context: str, language: str,
    running: dict[object, float] | None,
) -> tuple[Transcription, float, float]:
    """On a worker: the transcription and when it started and ended; while it runs, `running` holds its
    start (the recognizer's admission reads where the workers are; dict updates are atomic under the GIL)."""
    started_at = time.perf_counter()
    token = object()
    if running is not None:
        running[token] = started_at
    try:
        result = engine.transcribe(samples, context=context, language=language)
    finally:
        if running is not None:
            del running[token]
    return result, started_at, time.perf_counter()
