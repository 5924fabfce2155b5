"""`LocalTranscriber`: the server's recognizer in this process, with no server and no gRPC."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator

import vad
from asr_service._loop import LoopThread
from asr_service.audio import DecodedClip
from asr_service.client._clips import clip_vad_stats, decode_vad_clip
from asr_service.client._feed import PAUSE, WAITING, with_pauses
from asr_service.client._result import ClipResult
from asr_service.config import ServerConfig
from asr_service.engines import EngineFactory, create_engine
from asr_service.errors import AsrError
from asr_service.recognizer import RecognitionResult, Recognizer, SessionContext
from asr_service.revisions import Block, Revision, RevisionBlocks, accept

__all__ = ["LocalTranscriber"]


class LocalTranscriber:
    """Runs the recognizer in this process (no server), with the same results as a server gives.

    Thread-safe: the recognizer runs on an event loop in a helper thread, so `recognize_clip` may be
    called from any number of threads (and from inside a running event loop, e.g. Jupyter); the
    recognizer's pool transcribes `engine.num_workers` clips at a time. `pitch` also estimates each
    clip's voice pitch (`AudioStats.pitch_hz`), as a server with a drift baseline does.
    """

    def __init__(self, config: ServerConfig | None = None, *, engine_factory: EngineFactory = create_engine,
                 pitch: bool = False, language: str = "") -> None:
        """`language`: as `AsrClient`'s (ValueError for one the model does not transcribe)."""
        self._config = config or ServerConfig()
        self._pitch = pitch
        self._recognizer = Recognizer(engine_factory(self._config.engine), self._config)
        try:
            self._language = self._recognizer.check_language(language)
        except AsrError as exc:
            self._recognizer.close()
            raise ValueError(str(exc).removeprefix("config.")) from None
        self._loop = LoopThread("asr-local-loop")

    @property
    def config(self) -> ServerConfig:
        """The config the recognizer runs with (engine, budget, volume floor, limits)."""
        return self._config

    @property
    def recognizer(self) -> Recognizer:
        """The in-process recognizer."""
        return self._recognizer

    def recognize_clip(self, clip: vad.Clip, *, clip_id: str = "") -> ClipResult:
        """Transcribe one VAD clip in-process, on its own (as a unary `Recognize`); blocks the calling
        thread only."""
        return self._recognize(clip, clip_id=clip_id, context="")[0]

    def stream(
        self, clips: Iterable[vad.Clip], *, on_revision: Callable[[Revision], object] | None = None,
        silence_s: Callable[[], float] | None = None,
    ) -> Iterator[ClipResult]:
        """Transcribe clips in order as one session, as `AsrClient.stream` does through a server:
        each clip is conditioned on the session's text so far (`ServerConfig.session_context`). Results
        carry `result_id`s "0", "1", ... in clip order.

        `on_revision` asks for revisions, as a streaming session through a server does
        (asr_service/revisions.py, blocks of `ServerConfig.revision_window_s`): it is called with each, in
        block order, in the thread that reads the results, between them, and the last ones before the
        iterator ends. Unlike a server's, a second pass is never dropped for want of CPU: a block waits
        for the background thread (a file is worth its revisions; a live source's next results do not wait).
        `silence_s`, for a live source (`LiveClips.silence_s`), closes the block after `REVISION_PAUSE_S` of
        silence following a clip, as `AsrClient.stream` has the server do: the clips are then read on a
        thread of their own, and revisions are also given while no clip comes.
        """
        context = SessionContext(
            enabled=self._config.session_context, min_confidence=self._config.session_context_min_confidence
        )
        blocks = RevisionBlocks(self._config.revision_window_s) if on_revision is not None else None
        passes: list[concurrent.futures.Future[Revision | None]] = []  # in block order

        def deliver(*, wait: bool) -> None:
            while passes and (wait or passes[0].done()):
                if (revision := passes.pop(0).result()) is not None and on_revision is not None:
                    on_revision(revision)

        watched = with_pauses(clips, silence_s) if blocks is not None and silence_s is not None else None
        items: Iterable[vad.Clip | object] = clips if watched is None else watched
        index = -1
        try:
            for clip in items:
                if clip is PAUSE or clip is WAITING:
                    if clip is PAUSE and blocks is not None:
                        self._second_pass(blocks.pause(), passes)
                    deliver(wait=False)
                    continue
                assert isinstance(clip, vad.Clip)
                index += 1
                result, raw, decoded = self._recognize(clip, clip_id="", context=context.text)
                context.update(raw)
                result = dataclasses.replace(result, result_id=str(index))
                if blocks is not None:
                    self._second_pass(blocks.add(result.result_id, decoded.samples, result.text, result.confidence),
                                      passes)
                    deliver(wait=False)
                yield result
            if blocks is not None:
                self._second_pass(blocks.close(), passes)
                deliver(wait=True)
        finally:
            if watched is not None:
                watched.close()  # its reader's clips go back unsent
            for second in passes:  # the caller stopped reading: its second passes are not wanted
                second.cancel()

    def _second_pass(self, block: Block | None, passes: list[concurrent.futures.Future[Revision | None]]) -> None:
        if block is None:
            return

        async def revise(block: Block) -> Revision | None:
            done = await self._recognizer.revise(block.joined(), language=self._language, queue=True)
            return accept(block, *done) if done is not None else None

        passes.append(self._loop.submit(revise(block)))

    def _recognize(
        self, clip: vad.Clip, *, clip_id: str, context: str
    ) -> tuple[ClipResult, RecognitionResult, DecodedClip]:
        started = time.perf_counter()
        decoded = decode_vad_clip(clip, self._config.clip_limits, pitch=self._pitch)
        coro = self._recognizer.recognize(
            decoded, clip_id=clip_id or str(clip.index), received_at=started, vad=clip_vad_stats(clip),
            context=context, language=self._language,
        )
        result = self._loop.call(coro)
        round_trip_ms = (time.perf_counter() - started) * 1000.0
        return ClipResult.from_result(result, round_trip_ms=round_trip_ms), result, decoded

    def close(self) -> None:
        """Release the model and stop the helper thread."""
        self._recognizer.close()
        self._loop.close()
