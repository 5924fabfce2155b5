"""`AsrClient`: one object that owns the channel to a server, a method per call. The only gRPC code of
the client side; its results are the same `ClipResult`s the in-process transcriber gives."""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vad
from asr_service.audio import AudioStats
from asr_service.client._clips import clip_vad_stats
from asr_service.client._feed import END, Attempt, ClipFeed, PauseWatch
from asr_service.client._result import ClipResult
from asr_service.codecs import DEFAULT_OPUS_BITRATE_BPS, ENCODINGS, encode, opus_compression_level
from asr_service.errors import ClientError
from asr_service.recognizer import Latency, NullReason, VadStats
from asr_service.revisions import PAUSE_POLL_S, Revision
from protos.asr.v1 import asr_pb2, asr_pb2_grpc

__all__ = ["AsrClient"]

KEEPALIVE_S = 60.0  # a stream's empty chunk during a silence: well inside stream_idle_timeout_s (300 s)

_NULL_REASONS = {reason.value: reason for reason in NullReason}
_WIRE_ENCODINGS = {"linear16": asr_pb2.LINEAR16, "flac": asr_pb2.FLAC, "ogg_opus": asr_pb2.OGG_OPUS}


def _result(msg: asr_pb2.RecognitionResult, *, vad_stats: VadStats | None, round_trip_ms: float) -> ClipResult:
    """The client's result from an `asr.v1.RecognitionResult` (the inverse of the server's `result_message`)."""
    reason = _NULL_REASONS.get(msg.null_reason)
    if reason is None:
        raise ClientError(f"result.null_reason: {msg.null_reason} is not a reason this client knows "
                          f"(known: {', '.join(r.name for r in NullReason)}); update the client")
    return ClipResult(
        clip_id=msg.clip_id,
        text=msg.text,
        confidence=msg.confidence,
        null_reason=reason,
        model_id=msg.model.model_id,
        model_version=msg.model.model_version,
        latency=Latency(queue_wait_ms=msg.latency.queue_wait_ms, inference_ms=msg.latency.inference_ms,
                        server_total_ms=msg.latency.server_total_ms, budget_ms=msg.latency.budget_ms),
        audio=AudioStats(duration_s=msg.audio.duration_s, rms_dbfs=msg.audio.rms_dbfs, peak_dbfs=msg.audio.peak_dbfs,
                         clipped_ratio=msg.audio.clipped_ratio, sample_rate_hz=msg.audio.sample_rate_hz),
        vad=vad_stats,
        round_trip_ms=round_trip_ms,
        result_id=msg.result_id,
        role=msg.model.role or "primary",
        language=msg.language or "en",
    )


CONSENTS = {"none": asr_pb2.LOGGING_CONSENT_NONE, "results": asr_pb2.LOGGING_CONSENT_RESULTS_ONLY,
            "audio": asr_pb2.LOGGING_CONSENT_AUDIO_AND_RESULTS}
FEEDBACK_ACTIONS = {"accepted": asr_pb2.FEEDBACK_ACTION_ACCEPTED, "edited": asr_pb2.FEEDBACK_ACTION_EDITED,
                    "retried": asr_pb2.FEEDBACK_ACTION_RETRIED,
                    "switched_to_typing": asr_pb2.FEEDBACK_ACTION_SWITCHED_TO_TYPING}


def _vad_message(stats: VadStats | None) -> asr_pb2.VadStats | None:
    if stats is None:
        return None
    return asr_pb2.VadStats(speech_ratio=stats.speech_ratio, pre_padding_ms=stats.pre_padding_ms,
                            post_padding_ms=stats.post_padding_ms, gain_db=stats.gain_db, split=stats.split,
                            start_s=stats.start_s)


class AsrClient:
    """One object that owns the channel to a server; a method per call.

    `target` is "host:port". Every failure (unreachable server, refused request) is raised as
    `ClientError` with the status code and the server's message.
    """

    def __init__(
        self, target: str, *, timeout_s: float = 30.0, tls_ca_file: str | None = None,
        tls_cert_file: str | None = None, tls_key_file: str | None = None, token: str | None = None,
        logging_consent: str = "none", subject_id: str = "", client_tags: Mapping[str, str] | None = None,
        retries: int = 0, load_balancing: str | None = None, client_id: str = "", language: str = "",
        encoding: str = "linear16", opus_bitrate_bps: int = DEFAULT_OPUS_BITRATE_BPS, wait_for_ready: bool = False,
    ) -> None:
        """`tls_ca_file` speaks TLS to a server whose certificate that CA signed (the system's CAs when
        it is "" with TLS wanted: pass `tls_ca_file=""`); `tls_cert_file`/`tls_key_file` are this
        client's certificate for mutual TLS; `token` is sent as `authorization: Bearer <token>`.

        `logging_consent` is what the user agreed the service may keep of every request this client
        sends: "none" (the default), "results" (text and measurements) or "audio" (audio and results);
        `subject_id` a pseudonymous id of the user, for deletion; `client_tags` facts about the client
        (device, app_version, locale ...) kept with logged requests as slice keys.

        `timeout_s` is each call's deadline, all its attempts together; on a stream, the longest wait for the
        next result while a clip is unanswered (past it the stream is cancelled and, with `retries`, resumed).

        `retries`: a call answered UNAVAILABLE, UNKNOWN or CANCELLED (a replica behind a proxy died or is
        draining) is sent again up to this many times, with backoff (gRPC's retry policy for unary calls;
        `stream` reopens its stream with the clips not answered yet), and so is one answered RESOURCE_EXHAUSTED
        (an overloaded server or this client's quota), after the server's `retry-after-ms` hint when it gave one,
        else after a jittered backoff. A retry carries the same request id and clip id, so a server that
        transcribed the clip already answers from its cache (server/_dedup.py): no clip is transcribed twice.
        `wait_for_ready` makes a call wait (within `timeout_s`) for a server that cannot be reached yet, such
        as one restarting, instead of failing at once: for mobile links, with `retries`. The channel sends
        HTTP/2 keepalive pings every 30 s while a call is open (never when idle: the radio may sleep), so a
        link that died silently is noticed within 40 s. `load_balancing="round_robin"` spreads calls over
        every address of a target such as "ipv4:10.0.0.11:50051,10.0.0.12:50051" (gRPC's client-side
        balancing), skipping replicas whose grpc.health.v1 status is not SERVING.

        `client_id` (sent as the `x-client-id` metadata) keeps this client on one side of a server's canary
        for the whole ramp (without it, each request is split on its own id); `language` is the language
        spoken, an ISO 639-1 code or "auto" (the model's default, English, when "").

        `encoding` is how clips travel: "linear16" (raw PCM, 256 kbit/s at 16 kHz), "flac" (lossless, about
        half that) or "ogg_opus" (lossy, `opus_bitrate_bps`; for mobile links: docs/networks.md).
        Each clip is encoded here as one complete file."""
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding: {encoding!r} is not one of {', '.join(ENCODINGS)}")
        opus_compression_level(opus_bitrate_bps)  # ValueError now, not at the first clip
        self.encoding, self.opus_bitrate_bps = encoding, opus_bitrate_bps
        self._wait_for_ready = wait_for_ready
        if retries < 0 or load_balancing not in (None, "round_robin"):
            raise ValueError(f"retries {retries} must be >= 0; load_balancing {load_balancing!r}: None or "
                             "'round_robin'")
        self._retries = retries
        if logging_consent not in CONSENTS:
            raise ValueError(f"logging_consent: {logging_consent!r} is not one of {', '.join(CONSENTS)}")
        self._consent = CONSENTS[logging_consent]
        self._subject_id = subject_id
        self._client_tags = dict(client_tags or {})
        self.target = target
        self.timeout_s = timeout_s
        self._language = language
        metadata = ((("authorization", f"Bearer {token}"),) if token else ()) + ((("x-client-id", client_id),)
                                                                                 if client_id else ())
        self._metadata = metadata or None
        options = _channel_options(retries, load_balancing)
        if tls_ca_file is None and tls_cert_file is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            self._channel = grpc.secure_channel(target, _channel_credentials(tls_ca_file, tls_cert_file, tls_key_file),
                                                options=options)
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
        vad_stats: VadStats | None = None,
        model_id: str = "",
    ) -> ClipResult:
        """Send one clip of LINEAR16 `pcm` with `Recognize` (and the client VAD's figures for it, if any),
        encoded in the client's `encoding` on the way."""
        request = asr_pb2.RecognizeRequest(
            request_id=uuid.uuid4().hex,
            clip_id=clip_id,
            config=self._config(sample_rate_hz, channels, model_id),
            audio=self._encode(pcm, sample_rate_hz, channels),
            vad_stats=_vad_message(vad_stats),
        )
        sent = time.perf_counter()
        deadline = time.monotonic() + self.timeout_s
        backoff = _Backoff()
        for attempt in itertools.count():
            try:
                reply = self._stub.Recognize(request, timeout=max(0.0, deadline - time.monotonic()),
                                             metadata=self._metadata, wait_for_ready=self._wait_for_ready)
                break
            except grpc.RpcError as exc:
                error = self._error(exc)
                # gRPC's own policy (_channel_options) resends at once what failed in transport, a few times within
                # 2 s; past that (a server restarting takes longer), and for RESOURCE_EXHAUSTED, whose retry-after-ms
                # hint gRPC's policy cannot read, the client waits and sends the same request again
                if error.code not in _UNARY_CLIENT_RETRYABLE or attempt >= self._retries:
                    raise error from exc
                wait_s = backoff.next_s(error.retry_after_ms)
                if time.monotonic() + wait_s >= deadline:
                    raise error from exc
                time.sleep(wait_s)
        return _result(reply.result, vad_stats=vad_stats, round_trip_ms=(time.perf_counter() - sent) * 1000.0)

    def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> ClipResult:
        """Send a VAD clip, with the VAD's stats, with `Recognize`."""
        return self.recognize(clip.to_bytes(), clip_id=clip_id or str(clip.index), vad_stats=clip_vad_stats(clip))

    def stream(
        self, clips: Iterable[vad.Clip], *, chunk_ms: int = 100, model_id: str = "", lockstep: bool = False,
        keepalive_s: float = KEEPALIVE_S, retries: int | None = None,
        on_revision: Callable[[Revision], object] | None = None, silence_s: Callable[[], float] | None = None,
    ) -> Iterator[ClipResult]:
        """Send clips over one `StreamingRecognize` session, as chunks with end-of-utterance marks.

        Results come back in clip order; each one's `round_trip_ms` runs from its end-of-utterance
        chunk to its result. The server answers a session's clips one after another, so clips sent
        faster than they are transcribed wait behind each other; `lockstep` sends a clip only after
        the previous one's result, as a live source (whose clips are spaced by speech) would.

        While `clips` gives nothing for `keepalive_s` (a live speaker's silence), an empty chunk keeps
        the stream, which the server would close after its `stream_idle_timeout_s` (300 s by default).

        When the stream breaks (UNAVAILABLE; through a proxy also UNKNOWN, CANCELLED or INTERNAL: the
        replica died or drained; RESOURCE_EXHAUSTED, after the server's hint; or no result for `timeout_s`
        while a clip waits for one), it is opened again with the same request id, up to `retries` times
        (default: the client's), with the clips sent but not answered first: every clip gets exactly one
        result, in order, and a clip the server transcribed already is answered from its cache, not
        transcribed again. (The session's text context starts over.)

        `on_revision` asks the server for revisions (asr_service/revisions.py), and is called with each one,
        between results, in the thread that reads them: a second pass over consecutive clips heard
        together, whose text replaces the texts of the results with those `result_id`s. A server that does
        not send them (an older one, or `session_revisions = false`) sends none, and the results stand.
        A revision comes as soon as the server has it, so `on_revision` may be called while `clips` gives
        nothing. `silence_s`, for a live source, says how long it has been silent (`LiveClips.silence_s`):
        after `REVISION_PAUSE_S` of it following a clip, the client tells the server, which revises the
        clips so far then, so that a speaker who stops gets the revision of their last sentences.
        """
        attempts_left = self._retries if retries is None else retries
        feed = ClipFeed(clips)  # one reader of `clips` for every attempt
        request_id = uuid.uuid4().hex  # the same on every attempt: the server's cache knows the clips by it
        backoff = _Backoff()
        while True:
            attempt = Attempt()
            try:
                yield from self._stream_once(feed, attempt, chunk_ms=chunk_ms, model_id=model_id, lockstep=lockstep,
                                             request_id=request_id, keepalive_s=keepalive_s, on_revision=on_revision,
                                             silence_s=silence_s if on_revision is not None else None)
                return
            except ClientError as exc:
                if exc.code not in _STREAM_RETRYABLE or attempts_left <= 0:
                    raise
                attempts_left -= 1
                time.sleep(backoff.next_s(exc.retry_after_ms))

    def _stream_once(self, feed: ClipFeed, attempt: Attempt, *, chunk_ms: int, model_id: str, lockstep: bool,
                     request_id: str, keepalive_s: float, on_revision: Callable[[Revision], object] | None,
                     silence_s: Callable[[], float] | None) -> Iterator[ClipResult]:
        """One `StreamingRecognize` call over the clips it takes from `feed`; each is the attempt's from when
        it is taken until its result comes back, and goes back to the feed when the call ends without one.
        A watchdog cancels the call when a clip waits `timeout_s` for a result with nothing coming back (a
        link that stalled without breaking)."""
        marks: list[tuple[float, VadStats | None]] = []  # per clip sent: end-of-utterance time, its VAD stats
        answered = threading.Semaphore(0)
        progress = [time.monotonic()]  # when the last result came (or the call opened)

        def requests() -> Iterator[asr_pb2.StreamingRecognizeRequest]:
            config = self._config(vad.SAMPLE_RATE_HZ, 1, model_id)
            config.revisions = on_revision is not None
            yield asr_pb2.StreamingRecognizeRequest(request_id=request_id, config=config)
            step = vad.SAMPLE_RATE_HZ * chunk_ms // 1000 * 2
            sent_clips = 0
            quiet_since = time.monotonic()  # when the last message went
            pauses = PauseWatch(silence_s)  # the server is told of each pause after a clip
            while True:
                clip = feed.take(attempt, min(keepalive_s, PAUSE_POLL_S) if pauses.watching else keepalive_s)
                if clip is END:
                    return
                if clip is None:  # nothing said: an empty chunk for a pause, or to keep the stream
                    if pauses.paused() or time.monotonic() - quiet_since >= keepalive_s:
                        quiet_since = time.monotonic()
                        yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk())
                    continue
                assert isinstance(clip, vad.Clip)
                pauses.clip()
                while lockstep and sent_clips and not answered.acquire(timeout=1.0):
                    if attempt.closed:
                        return
                sent_clips += 1
                data = self._encode(clip.to_bytes(), vad.SAMPLE_RATE_HZ, 1)  # a clip is one whole file
                stats = clip_vad_stats(clip)
                for i in range(0, max(len(data), 1), step):
                    last = i + step >= len(data)
                    if last:  # before the yield: the generator resumes only when gRPC wants more
                        marks.append((time.perf_counter(), stats))
                        sent_at.append(time.monotonic())
                    yield asr_pb2.StreamingRecognizeRequest(audio=asr_pb2.AudioChunk(
                        clip_id=str(clip.index), data=data[i:i + step], end_of_utterance=last,
                        vad_stats=_vad_message(stats) if last else None,
                    ))
                quiet_since = time.monotonic()

        sent_at: deque[float] = deque()  # monotonic end-of-utterance time of each clip not answered yet
        call = self._stub.StreamingRecognize(requests(), timeout=None, metadata=self._metadata,
                                             wait_for_ready=self._wait_for_ready)
        stop = threading.Event()
        threading.Thread(target=_watchdog, args=(call, sent_at, progress, self.timeout_s, stop),
                         name="asr-stream-watchdog", daemon=True).start()
        try:
            for reply in call:
                done = time.perf_counter()
                progress[0] = time.monotonic()
                if reply.HasField("revision"):  # not a clip's result: the clips' count stays
                    if on_revision is not None:
                        on_revision(Revision(result_ids=tuple(reply.revision.result_ids), text=reply.revision.text,
                                             inference_ms=reply.revision.inference_ms))
                    continue
                if sent_at:
                    sent_at.popleft()
                sent, stats = marks.pop(0) if marks else (done, None)  # in clip order, one per clip sent
                answered.release()
                feed.answered(attempt)
                yield _result(reply.result, vad_stats=stats, round_trip_ms=(done - sent) * 1000.0)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        finally:
            stop.set()
            feed.close(attempt)  # before the next attempt: this one takes nothing more
            call.cancel()  # a no-op on a finished call; ends it when the consumer stopped reading

    def _encode(self, pcm: bytes, sample_rate_hz: int, channels: int) -> bytes:
        return encode(pcm, sample_rate_hz=sample_rate_hz, channels=channels, encoding=self.encoding,
                      opus_bitrate_bps=self.opus_bitrate_bps)

    def _config(self, sample_rate_hz: int, channels: int, model_id: str) -> asr_pb2.RecognitionConfig:
        return asr_pb2.RecognitionConfig(
            format=asr_pb2.AudioFormat(encoding=_WIRE_ENCODINGS[self.encoding], sample_rate_hz=sample_rate_hz,
                                       channels=channels),
            model_id=model_id, logging_consent=self._consent, subject_id=self._subject_id,
            client_tags=self._client_tags, language=self._language,
        )

    def report_feedback(self, result: ClipResult, action: str, *, edited_text: str = "") -> bool:
        """Tell the server what the user did with `result`: "accepted", "edited" (with `edited_text`),
        "retried" or "switched_to_typing". True when the server logged it (consent given, logging on)."""
        if action not in FEEDBACK_ACTIONS:
            raise ValueError(f"action: {action!r} is not one of {', '.join(FEEDBACK_ACTIONS)}")
        if not result.result_id:
            raise ValueError("result: it has no result_id (an in-process result, or a server before feedback)")
        request = asr_pb2.ReportFeedbackRequest(
            result_id=result.result_id, action=FEEDBACK_ACTIONS[action], edited_text=edited_text,
            model=asr_pb2.ModelRef(model_id=result.model_id, model_version=result.model_version, role=result.role),
            logging_consent=self._consent, subject_id=self._subject_id,
        )
        try:
            reply = self._stub.ReportFeedback(request, timeout=self.timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        return bool(reply.logged)

    def list_models(self) -> asr_pb2.ListModelsResponse:
        """The served models and the server's limits."""
        try:
            reply: asr_pb2.ListModelsResponse = self._stub.ListModels(
                asr_pb2.ListModelsRequest(), timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise self._error(exc) from exc
        return reply

    def _error(self, exc: grpc.RpcError) -> ClientError:
        code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        if code == grpc.StatusCode.UNAVAILABLE and "connect" in (details or "").lower():
            return ClientError(f"server {self.target}: unreachable ({details})", code=code.name)
        return ClientError(f"server {self.target}: {code.name}: {details}", code=code.name,
                           retry_after_ms=_retry_after_ms(exc))

_UNARY = ("Recognize", "ListModels", "ReportFeedback")
# What a replica's death looks like to a client: UNAVAILABLE (refused, drained), and, through a proxy,
# UNKNOWN "Stream removed", CANCELLED "RST_STREAM error code 8" (HAProxy resets the call) or INTERNAL for
# a call the replica was in the middle of (seen in tests/e2e/test_replicas.py). This client cancels its own
# call only when a stream stalls (`_watchdog`), to resume it, and the server answers a bad request with
# INVALID_ARGUMENT and friends: never retried. RESOURCE_EXHAUSTED is retried by the client itself, after
# the server's retry-after-ms hint (gRPC's policy reads only its own grpc-retry-pushback-ms).
_UNARY_RETRYABLE = ["UNAVAILABLE", "UNKNOWN", "CANCELLED"]
_UNARY_CLIENT_RETRYABLE = frozenset({*_UNARY_RETRYABLE, "RESOURCE_EXHAUSTED"})
_STREAM_RETRYABLE = frozenset({"UNAVAILABLE", "UNKNOWN", "CANCELLED", "INTERNAL", "RESOURCE_EXHAUSTED"})
# HTTP/2 keepalive for mobile links: carrier NATs drop a quiet mapping after 30 s to a few minutes, and a
# link that died without a FIN/RST is otherwise noticed only by TCP, after many minutes. A ping every 30 s
# while a call is open (the server allows one every 10 s: server/_app.py), none while idle, so that a phone's
# radio can sleep between utterances; 10 s without the ping's answer closes the connection (UNAVAILABLE).
_KEEPALIVE_OPTIONS: list[tuple[str, object]] = [
    ("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0), ("grpc.http2.max_pings_without_data", 0),
]
_BACKOFF_INITIAL_S, _BACKOFF_MAX_S = 0.1, 2.0


class _Backoff:
    """Exponential backoff with jitter (between half and all of a ceiling that doubles from 0.1 s to 2 s), or
    the server's hint when it gave one."""

    def __init__(self) -> None:
        self._ceiling_s = _BACKOFF_INITIAL_S

    def next_s(self, hint_ms: int | None = None) -> float:
        """How long to wait before the next attempt."""
        ceiling, self._ceiling_s = self._ceiling_s, min(self._ceiling_s * 2, _BACKOFF_MAX_S)
        if hint_ms is not None:
            return hint_ms / 1000.0 * random.uniform(1.0, 1.2)  # spread clients told the same moment
        return random.uniform(ceiling / 2, ceiling)


def _retry_after_ms(exc: grpc.RpcError) -> int | None:
    """The server's `retry-after-ms` trailer (server/_quotas.py), or None."""
    trailing: Iterable[tuple[str, str | bytes]] = (exc.trailing_metadata() or ()) if isinstance(exc, grpc.Call) else ()
    for key, value in trailing:
        if key == "retry-after-ms":
            text = value.decode() if isinstance(value, bytes) else str(value)
            return int(text) if text.isdigit() and len(text) < 9 else None
    return None


def _watchdog(call: grpc.Future[object], sent_at: deque[float], progress: list[float], timeout_s: float,
              stop: threading.Event) -> None:
    """Cancel `call` when its oldest unanswered clip has waited `timeout_s` with no result coming back."""
    while not stop.wait(min(0.25, timeout_s / 4)):
        try:
            oldest = sent_at[0]
        except IndexError:
            continue  # nothing is waiting for a result: a quiet stream is fine
        if time.monotonic() - max(oldest, progress[0]) > timeout_s:
            call.cancel()
            return


def _channel_options(retries: int, load_balancing: str | None) -> list[tuple[str, object]]:
    """gRPC channel options: a retry policy for the unary calls, and client-side round-robin with health checks."""
    config: dict[str, object] = {}
    options: list[tuple[str, object]] = list(_KEEPALIVE_OPTIONS)
    if retries:
        config["methodConfig"] = [{
            "name": [{"service": "asr.v1.Recognizer", "method": m} for m in _UNARY],
            "retryPolicy": {"maxAttempts": min(retries + 1, 5), "initialBackoff": "0.1s", "maxBackoff": "2s",
                            "backoffMultiplier": 2, "retryableStatusCodes": _UNARY_RETRYABLE},
        }]
        options.append(("grpc.enable_retries", 1))
    if load_balancing == "round_robin":
        config["loadBalancingConfig"] = [{"round_robin": {}}]
        config["healthCheckConfig"] = {"serviceName": ""}  # skip replicas that are loading or draining
    if config:
        options.append(("grpc.service_config", json.dumps(config)))
    return options


def _channel_credentials(ca: str | None, cert: str | None, key: str | None) -> grpc.ChannelCredentials:
    """TLS credentials from PEM files; ClientError naming a file that cannot be read."""
    def read(path: str | None, what: str) -> bytes | None:
        if not path:
            return None
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise ClientError(f"{what}: cannot read {path} ({exc.strerror})") from exc

    if (cert is None) != (key is None):
        raise ClientError("tls_cert_file and tls_key_file: give both (mutual TLS) or neither")
    return grpc.ssl_channel_credentials(root_certificates=read(ca, "tls_ca_file"),
                                        private_key=read(key, "tls_key_file"),
                                        certificate_chain=read(cert, "tls_cert_file"))
