"""The `asr.v1.Recognizer` servicer: translate messages, call the recognizer, map errors. Thin on purpose."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import grpc

from asr_service.audio import AudioFormat, DecodedClip, check_format, decode_clip
from asr_service.config import ServerConfig
from asr_service.deployment import Deployment, Kept, Route
from asr_service.errors import (
    AsrError,
    ClipTooLongError,
    ModelFailedError,
    OverloadedError,
    ProtocolError,
    StreamLimitError,
)
from asr_service.recognizer import RecognitionResult, SessionContext, VadStats
from asr_service.revisions import END_WAIT_S, Block, RevisionBlocks, accept
from asr_service.server import _convert
from asr_service.server._consent import MAX_EDITED_TEXT_CHARS, NO_CONSENT, Consent, ResultKeeper, consent_of
from asr_service.server._decode_guard import Undecodable
from asr_service.server._dedup import Key, ResultCache, StreamKeys, key_of, next_index
from asr_service.server._limits import checked_id, checked_vad, for_log, limited_stream
from asr_service.server._quotas import ClientQuotas
from asr_service.server._status import status_code_for
from protos.asr.v1 import asr_pb2, asr_pb2_grpc

__all__ = ["RecognizerServicer"]

logger = logging.getLogger("asr_service.requests")

_CLIENT_KEY = "x-client-id"  # request metadata: the key a canary split is sticky on (else the token name, request id)
_MAX_LANGUAGE_CHARS = 16
_ROLES = ("primary", "canary", "standby")  # the roles a client's result can carry (a shadow's never reaches one)
# (action, model_version, role) of one user feedback, for the metrics
ObserveFeedback = Callable[[str, str, str], None]
_ACTIONS = {
    asr_pb2.FEEDBACK_ACTION_ACCEPTED: "accepted",
    asr_pb2.FEEDBACK_ACTION_EDITED: "edited",
    asr_pb2.FEEDBACK_ACTION_RETRIED: "retried",
    asr_pb2.FEEDBACK_ACTION_SWITCHED_TO_TYPING: "switched_to_typing",
}


class RecognizerServicer(asr_pb2_grpc.RecognizerServicer):  # type: ignore[misc]
    """Serves Recognize, StreamingRecognize and ListModels over the models of a `Deployment`."""

    def __init__(
        self, config: ServerConfig, deployment: Deployment, *, pitch: bool = False,
        on_stream_cut: Callable[[str], object] | None = None,
        identify: Callable[[grpc.aio.ServicerContext[Any, Any]], str | None] | None = None,
        quotas: ClientQuotas | None = None,
        keeper: ResultKeeper | None = None,
        observe_feedback: ObserveFeedback | None = None,
    ) -> None:
        self._config = config
        self._keeper = keeper  # None: the server keeps nothing, whatever clients consent to
        self._observe_feedback = observe_feedback
        self._deployment = deployment
        self._pitch = pitch  # estimate each clip's pitch: only drift detection reads it
        self._on_stream_cut = on_stream_cut  # a stream cut by a limit, with the limit's name
        self._identify = identify  # the client's name (from its token), or None: no per-client quota
        self._quotas = quotas
        # answers to clips a client may retry (server/_dedup.py): a repeat is answered, not run again
        self._results: ResultCache[Any] = ResultCache(max_entries=config.dedup_max_entries, ttl_s=config.dedup_ttl_s)

    async def Recognize(
        self, request: asr_pb2.RecognizeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> asr_pb2.RecognizeResponse:
        received_at = time.perf_counter()
        request_id = uuid.uuid4().hex
        clip: DecodedClip | None = None
        key: Key | None = None
        at_end: list[Callable[[Any], object]] = []  # run when the call ends: the dedup claim's release
        try:
            if isinstance(request, Undecodable):
                raise ProtocolError(request.reason)
            request_id = checked_id("request_id", request.request_id, self._config) or request_id
            if not request.HasField("config"):
                raise ProtocolError("config: not set; a RecognizeRequest carries its config")
            if request.request_id and self._results.enabled:  # a client's own id: it may retry with it
                key = key_of(self._client(context), request_id, checked_id("clip_id", request.clip_id, self._config),
                             request.config.SerializeToString(deterministic=True), request.audio)
                if (repeat := await self._results.claim(key, at_end.append)) is not None:
                    _log_repeat("Recognize", request_id, request.clip_id)
                    return repeat  # type: ignore[no-any-return]
            route = self._route(request.config, context, request_id)
            language = route.recognizer.check_language(request.config.language)
            consent = self._consent(request.config)
            clip = decode_clip(
                request.audio, _convert.audio_format(request.config), self._config.clip_limits, pitch=self._pitch
            )
            clip_id = checked_id("clip_id", request.clip_id, self._config)
            vad = checked_vad(_convert.vad_stats(request))

            def respond(result: RecognitionResult) -> asr_pb2.RecognizeResponse:
                return asr_pb2.RecognizeResponse(request_id=request_id,
                                                 result=_convert.result_message(result, result_id=f"{request_id}/0"))

            with self._quota(self._client(context)):
                result = await self._recognize(route, clip, clip_id=clip_id, received_at=received_at, vad=vad,
                                               language=language, key=key, answer=respond)
        except AsrError as exc:
            request, clip = None, None  # type: ignore[assignment]  # the audio must not outlive a refusal
            _refuse(context, "Recognize", request_id, exc)
            return asr_pb2.RecognizeResponse()  # discarded by grpc: the status is not OK
        finally:
            _end_call(at_end)
        assert clip is not None  # decoded before the recognizer answered
        self._deployment.answered(route, result, clip, request_id=request_id, language=language, vad=vad,
                                  kept=_kept(consent))
        _log_result("Recognize", request_id, result)
        if self._keeper is not None:
            self._keeper.keep_clip(consent, request_id=request_id, clip_index=0, clip_id=clip_id, result=result,
                                   clip=clip)
        return respond(result)

    async def StreamingRecognize(
        self,
        request_iterator: AsyncIterator[asr_pb2.StreamingRecognizeRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[asr_pb2.StreamingRecognizeResponse]:
        session = _Session(self._config)
        at_end = session.at_end  # run when the call ends (the session itself is dropped at a refusal)
        route: Route | None = None
        client = self._client(context)  # once a call: the token does not change within a stream
        requests = aiter(limited_stream(request_iterator, self._config))
        reading: asyncio.Task[asr_pb2.StreamingRecognizeRequest | None] | None = None  # the next message,
        # read in a task only while a second pass runs (no task per message otherwise)
        try:
            while True:
                if session.revising or reading is not None:  # a revision goes as soon as its second pass is
                    # done, not with the next result
                    next_message = reading = reading or asyncio.ensure_future(_next(requests))
                    waits: list[asyncio.Future[Any]] = [next_message, *session.revising[:1]]
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    for revision in session.revisions_done():
                        yield revision
                    if not next_message.done():
                        continue
                    request, reading = next_message.result(), None
                else:
                    request = await _next(requests)
                if request is None:
                    break
                if isinstance(request, Undecodable):
                    raise ProtocolError(request.reason)
                if route is None:
                    route = self._open(session, request, context)
                    continue
                if request.WhichOneof("payload") != "audio":
                    raise ProtocolError("config: sent twice; only the first message carries config")
                if session.add(request.audio):
                    with self._quota(client):
                        reply = await self._finish_clip(session, route)
                    for revision in session.revisions_done():
                        yield revision
                    yield reply
                elif session.blocks is not None and not session.pending:  # an empty chunk between clips: the
                    # speaker paused (a live client says so, or keeps the stream open in a long silence), so the
                    # clips so far are revised now rather than when the next one would not fit
                    self._revise(session, route, session.blocks.pause())
            if route is not None and session.pending:
                with self._quota(client):
                    reply = await self._finish_clip(session, route)
                for revision in session.revisions_done():
                    yield revision
                yield reply
            if route is not None and session.blocks is not None:
                self._revise(session, route, session.blocks.close())
                if session.revising:  # the last block's, and any still running: before the stream ends
                    await asyncio.wait(session.revising, timeout=END_WAIT_S)
                    for revision in session.revisions_done():
                        yield revision
        except AsrError as exc:
            if isinstance(exc, StreamLimitError) and self._on_stream_cut is not None:
                self._on_stream_cut(str(exc).partition(";")[0])
            request_id = session.request_id or "-"
            request = session = None  # type: ignore[assignment]  # the audio must not outlive a refusal
            _refuse(context, "StreamingRecognize", request_id, exc)
        finally:
            if reading is not None:
                reading.cancel()
            if session is not None:
                for task in session.revising:  # a call that ended early: its second passes are not wanted
                    task.cancel()
            _end_call(at_end)

    def _revise(self, session: _Session, route: Route, block: Block | None) -> None:
        """Start the second pass over a closed `block` (asr_service/revisions.py), if there is one."""
        if block is None:
            return
        request_id, language = session.request_id, session.language

        async def second_pass() -> asr_pb2.StreamingRecognizeResponse | None:
            try:
                done = await route.recognizer.revise(block.joined(), language=language)
            except Exception:  # a refinement: the session's results stand without it
                logger.exception("second pass of %d clips of stream %s failed", len(block.result_ids), request_id)
                return None
            revision = accept(block, *done) if done is not None else None
            if revision is None:
                return None
            return asr_pb2.StreamingRecognizeResponse(
                request_id=request_id, revision=_convert.revision_message(revision, route.recognizer.info, route.role))

        session.revising.append(asyncio.ensure_future(second_pass()))

    def _consent(self, config: asr_pb2.RecognitionConfig) -> Consent:
        """What the client allows the server to keep (checked even when logging is off: a bad value is the
        client's bug either way)."""
        return consent_of(config.logging_consent, config.subject_id, dict(config.client_tags), self._config)

    def _client(self, context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
        """The calling client's name (from its token), or None when clients are not named."""
        return self._identify(context) if self._identify is not None else None

    def _quota(self, client: str | None) -> AbstractContextManager[None]:
        """One of the client's slots for a clip (nothing to hold when clients are not named)."""
        if client is None or self._quotas is None:
            return nullcontext()
        return self._quotas.admit(client)

    def _route(self, config: asr_pb2.RecognitionConfig, context: grpc.aio.ServicerContext[Any, Any],
               request_id: str) -> Route:
        """The model for a request: the one its config names, or the deployment's choice for this client
        (sticky on the `x-client-id` metadata, else on the client's token name, else on the request id)."""
        if len(config.language) > _MAX_LANGUAGE_CHARS:
            raise ProtocolError(f"config.language: at most {_MAX_LANGUAGE_CHARS} characters (an ISO 639-1 code)")
        metadata = dict(context.invocation_metadata() or ())
        key = metadata.get(_CLIENT_KEY)
        if isinstance(key, str) and key:
            client_key = "id:" + checked_id(_CLIENT_KEY, key, self._config)
        else:
            name = self._client(context)
            client_key = f"token:{name}" if name else request_id
        return self._deployment.route(checked_id("config.model_id", config.model_id, self._config), client_key)

    async def _recognize(self, route: Route, clip: DecodedClip, *, clip_id: str, received_at: float,
                         vad: VadStats | None, language: str, context: str = "", key: Key | None = None,
                         answer: Callable[[RecognitionResult], Any] = lambda _: None) -> RecognitionResult:
        """The routed model's result; a model that fails is counted against it (the canary's guards). With
        a claimed `key`, the model finishes even if the caller goes away, and `answer(result)` is cached."""
        try:
            work = route.recognizer.recognize(clip, clip_id=clip_id, received_at=received_at, vad=vad,
                                              context=context, language=language, role=route.role)
            return await self._results.run(key, work, answer)
        except ModelFailedError:
            self._deployment.failed(route)
            raise

    def _open(self, session: _Session, request: asr_pb2.StreamingRecognizeRequest,
              context: grpc.aio.ServicerContext[Any, Any]) -> Route:
        session.request_id = checked_id("request_id", request.request_id, self._config) or uuid.uuid4().hex
        if request.WhichOneof("payload") != "config":
            raise ProtocolError("config: the first message must carry config (got audio before config)")
        route = self._route(request.config, context, session.request_id)
        session.language = route.recognizer.check_language(request.config.language)
        session.consent = self._consent(request.config)
        session.format = _convert.audio_format(request.config)
        check_format(session.format, self._config.clip_limits)
        if request.request_id and self._results.enabled:  # the client's own id: a resumed stream may repeat clips
            session.dedup = StreamKeys(identity=self._client(context), config=request.config.SerializeToString(
                deterministic=True), add_done_callback=session.at_end.append)
            session.first_index = next_index(self._results.answers(), session.request_id)
        if request.config.revisions and self._config.session_revisions:
            session.blocks = RevisionBlocks(self._config.revision_window_s)
        return route

    async def _finish_clip(self, session: _Session, route: Route) -> asr_pb2.StreamingRecognizeResponse:
        received_at = time.perf_counter()
        data, clip_id, vad = session.take()
        dedup = session.dedup
        key = dedup.key(session.request_id, clip_id, data) if dedup is not None else None
        repeat = await self._results.claim(key, dedup.on_done) if dedup is not None and key is not None else None
        if repeat is not None:
            _log_repeat("StreamingRecognize", session.request_id, clip_id)
            if session.blocks is not None:  # a repeat breaks the run of clips this call holds the audio of
                self._revise(session, route, session.blocks.close())
            return repeat  # type: ignore[no-any-return]
        assert session.format is not None  # set by _open before any audio is taken
        clip = decode_clip(data, session.format, self._config.clip_limits, allow_empty=True, pitch=self._pitch)
        prompt = session.context.text
        index = session.first_index + session.clips - 1
        request_id = session.request_id

        def respond(result: RecognitionResult) -> asr_pb2.StreamingRecognizeResponse:
            return asr_pb2.StreamingRecognizeResponse(
                request_id=request_id, result=_convert.result_message(result, result_id=f"{request_id}/{index}"))

        result = await self._recognize(route, clip, clip_id=clip_id, received_at=received_at, vad=vad,
                                       language=session.language, context=prompt, key=key, answer=respond)
        self._deployment.answered(route, result, clip, request_id=session.request_id, context=prompt,
                                  language=session.language, vad=vad, kept=_kept(session.consent))
        session.context.update(result)
        _log_result("StreamingRecognize", session.request_id, result)
        if self._keeper is not None:
            self._keeper.keep_clip(session.consent, request_id=session.request_id, clip_index=index, clip_id=clip_id,
                                   result=result, clip=clip)
        if session.blocks is not None:
            self._revise(session, route, session.blocks.add(f"{request_id}/{index}", clip.samples, result.text,
                                                            result.confidence))
        return respond(result)

    async def ListModels(
        self, request: asr_pb2.ListModelsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> asr_pb2.ListModelsResponse:
        return _convert.list_models_response(self._deployment.recognizers(), self._config)

    async def ReportFeedback(
        self, request: asr_pb2.ReportFeedbackRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> asr_pb2.ReportFeedbackResponse:
        try:
            if isinstance(request, Undecodable):
                raise ProtocolError(request.reason)
            request_id, clip_index = _result_id(request.result_id, self._config)
            action = _ACTIONS.get(request.action)
            if action is None:
                raise ProtocolError("action: not set, or not a FeedbackAction (accepted, edited, retried, "
                                    "switched_to_typing)")
            if len(request.edited_text) > MAX_EDITED_TEXT_CHARS:
                raise ProtocolError(f"edited_text: at most {MAX_EDITED_TEXT_CHARS} characters")
            if action == "edited" and not request.edited_text.strip():
                raise ProtocolError("edited_text: EDITED feedback carries the text the user ended with")
            consent = consent_of(request.logging_consent, request.subject_id, None, self._config, where="feedback")
        except AsrError as exc:
            _refuse(context, "ReportFeedback", "-", exc)
            return asr_pb2.ReportFeedbackResponse()  # discarded by grpc: the status is not OK
        version, role = self._served_model(request.model)
        if self._observe_feedback is not None:
            self._observe_feedback(action, version, role)
        logged = self._keeper is not None and self._keeper.keep_feedback(
            consent, request_id=request_id, clip_index=clip_index, action=action,
            edited_text=request.edited_text if action == "edited" else "")
        logger.info("ReportFeedback request_id=%s clip=%d action=%s model_version=%s logged=%s",
                    for_log(request_id), clip_index, action, version, logged)
        return asr_pb2.ReportFeedbackResponse(logged=logged)

    def _served_model(self, model: asr_pb2.ModelRef) -> tuple[str, str]:
        """(model_version, role) for the metrics: a version this server serves, else "unknown" (a client
        must not be able to mint label values); the role the result named (the one it was routed under,
        which may have changed since), else the model's role now."""
        for recognizer in self._deployment.recognizers():
            if recognizer.info.model_version == model.model_version:
                role = model.role if model.role in _ROLES else recognizer.role
                return recognizer.info.model_version, role
        return "unknown", "unknown"


class _Session:
    """The state of one StreamingRecognize call: its format, the clip being received, and the text
    so far (each clip is conditioned on what the session said before it; `ServerConfig.session_context`)."""

    def __init__(self, config: ServerConfig) -> None:
        self.request_id = ""
        self.format: AudioFormat | None = None
        self._config = config
        self._buffer = bytearray()
        self._clip_id = ""
        self._vad: VadStats | None = None
        self.pending = False
        self.clips = 0
        # callbacks for the call's end (the dedup claim's release), run by the handler's `finally`: not
        # grpc's `context.add_done_callback`, whose callback list keeps every call's state in a reference cycle
        self.at_end: list[Callable[[Any], object]] = []
        self.consent: Consent = NO_CONSENT
        self.language = ""
        self.dedup: StreamKeys | None = None  # None: this stream's clips are not cached (no client request id)
        self.first_index = 0  # of this call's first result id: after those of the stream it resumes
        self.context = SessionContext(
            enabled=config.session_context, min_confidence=config.session_context_min_confidence
        )
        self.blocks: RevisionBlocks | None = None  # None: the session did not ask for revisions, or may not
        self.revising: list[asyncio.Future[asr_pb2.StreamingRecognizeResponse | None]] = []  # in block order

    def revisions_done(self) -> list[asr_pb2.StreamingRecognizeResponse]:
        """The revisions whose second pass has finished, in block order (one still running holds back the
        ones after it); sent with the next result."""
        out = []
        while self.revising and self.revising[0].done():
            if (revision := self.revising.pop(0).result()) is not None:
                out.append(revision)
        return out

    def add(self, chunk: asr_pb2.AudioChunk) -> bool:
        """Append a chunk; True when it ends the utterance. Refuses a clip past max_clip_s early.

        A chunk with no audio and no end of utterance outside a clip is a keepalive: it starts nothing
        (a live client may send one during a long silence, under `stream_idle_timeout_s`)."""
        if not self.pending and not chunk.data and not chunk.end_of_utterance:
            return False
        if not self.pending:
            self.clips += 1
            if self.clips > self._config.stream_max_clips:
                raise StreamLimitError(f"stream: more than {self._config.stream_max_clips} clips, the most one "
                                       "stream may carry (stream_max_clips); open a new one")
            self._clip_id = checked_id("audio.clip_id", chunk.clip_id, self._config)
        self.pending = True
        self._buffer += chunk.data
        self._vad = checked_vad(_convert.vad_stats(chunk)) or self._vad
        assert self.format is not None
        seconds = len(self._buffer) / (2 * self.format.channels * self.format.sample_rate_hz)
        if seconds > self._config.max_clip_s:
            raise ClipTooLongError(
                f"audio: clip {self._clip_id or '(no clip_id)'} passed {self._config.max_clip_s:g} s "
                "without end_of_utterance; the server accepts at most that (split it on the client)"
            )
        return chunk.end_of_utterance

    def take(self) -> tuple[bytes, str, VadStats | None]:
        """The finished clip's bytes, id and VAD stats; resets for the next clip."""
        data, clip_id, vad = bytes(self._buffer), self._clip_id, self._vad
        self._buffer.clear()
        self._clip_id, self._vad, self.pending = "", None, False
        return data, clip_id, vad


_T = TypeVar("_T")


async def _next(requests: AsyncIterator[_T]) -> _T | None:
    """The stream's next message, or None when the client has closed its side."""
    try:
        return await anext(requests)
    except StopAsyncIteration:
        return None


def _end_call(callbacks: list[Callable[[Any], object]]) -> None:
    for callback in callbacks:
        callback(None)
    callbacks.clear()


def _log_repeat(method: str, request_id: str, clip_id: str) -> None:
    logger.info("%s request_id=%s clip_id=%s outcome=OK repeat=answered_from_cache", method, for_log(request_id),
                for_log(clip_id) or "-")


def _kept(consent: Consent) -> Kept:
    """What the shadow report may keep of a clip: what the client consented to be kept."""
    return Kept(text=consent.level is not None, audio=consent.level == "audio")


def _refuse(context: grpc.aio.ServicerContext[Any, Any], method: str, request_id: str, exc: AsrError) -> None:
    """Set the refusal's status on the call; the handler then returns (its message is not sent).

    Not `context.abort`: it raises from inside the caller's `except` block, and every refused call then
    survived as cyclic garbage (the exception's traceback, the handler's frames in grpc's own exception
    handling, the request they hold) that only a full garbage collection frees, and full collections grow
    rarer as the process ages: under overload RSS grew ~5 MB/min for as long as a soak ran
    (docs/security.md). A status set on the context and a normal return leave no cycle.
    """
    code = status_code_for(exc)
    if isinstance(exc, OverloadedError) and exc.retry_after_ms is not None:  # the server's or the client's quota
        context.set_trailing_metadata((("retry-after-ms", str(exc.retry_after_ms)),))
    logger.info("%s request_id=%s outcome=%s error=%s", method, for_log(request_id), code.name,
                for_log(str(exc), 400))
    context.set_code(code)
    context.set_details(str(exc))


def _result_id(value: str, config: ServerConfig) -> tuple[str, int]:
    """(request id, clip index) of a `RecognitionResult.result_id` ("REQUEST_ID/INDEX")."""
    request_id, _, index = checked_id("result_id", value, config).rpartition("/")
    if not request_id or not index.isdigit() or len(index) > 9:
        raise ProtocolError("result_id: not one the server gave (RecognitionResult.result_id, 'REQUEST_ID/INDEX')")
    return request_id, int(index)


def _log_result(method: str, request_id: str, result: RecognitionResult) -> None:
    logger.info(
        "%s request_id=%s clip_id=%s model_version=%s outcome=OK null_reason=%s audio_s=%.2f "
        "queue_ms=%.1f inference_ms=%.1f total_ms=%.1f over_budget=%s",
        method,
        for_log(request_id),
        for_log(result.clip_id) or "-",
        result.model.model_version,
        result.null_reason.name,
        result.audio.duration_s,
        result.latency.queue_wait_ms,
        result.latency.inference_ms,
        result.latency.server_total_ms,
        result.latency.budget_exceeded,
    )
