"""Transcribing whole files the way the service does: client VAD clips, each clip transcribed, texts joined.

`transcribe_file` works with any `Transcriber` (a server through `AsrClient`, or `LocalTranscriber`
in-process), so what is measured is the serving path: each clip is sent alone (one `Recognize` per clip,
`Transcriber.recognize_clip`), never the whole file; or, with `revisions`, the clips of a file go as one
streaming session that asks for revisions (`SessionTranscriber.stream`), and the file's text is the
session's after them (asr_service/revisions.py): what a client that streams a talk and asks for them
shows. `ClipFileTranscriber` binds it to a transcriber and VAD options and says what it runs with, for
results.json. `transcribe_files` runs several files at once
when asked to, or hands them all to a `ManyFileTranscriber` that runs them elsewhere (a Dask cluster:
`asr_service.evaluation.cluster`); `asr_service.client.LocalTranscriber` is the in-process transcriber that
several threads may share: one model, `engine.num_workers` clips at a time (the recognizer's pool), never more threads
than cores (`ServerConfig` refuses ``num_workers * cpu_threads > cores``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

import vad
from asr_service.client import ClipResult, Revision, SessionTranscriber, Transcriber, paced, revised
from asr_service.config import ServerConfig
from asr_service.recognizer import NullReason

__all__ = [
    "AudioSpan",
    "ClipFileTranscriber",
    "ClipOutcome",
    "DescribedFileTranscriber",
    "FileTranscript",
    "ManyFileTranscriber",
    "calls_setting",
    "describe_config",
    "describe_transcriber",
    "transcribe_file",
    "transcribe_files",
]


@dataclass(frozen=True, kw_only=True)
class AudioSpan:
    """A stretch of an audio file: from `start_s` to `end_s` (None: to the end)."""

    path: Path
    start_s: float = 0.0
    end_s: float | None = None

    @property
    def is_whole_file(self) -> bool:
        """True when the span is the whole file."""
        return self.start_s <= 0.0 and self.end_s is None

    def read(self) -> npt.NDArray[np.int16]:
        """The span's 16 kHz mono samples (`vad.read_audio`, then cut); `vad.VadError` when unreadable
        or when the span starts past the end of the audio."""
        pcm = vad.read_audio(self.path)
        first = round(self.start_s * vad.SAMPLE_RATE_HZ)
        last = pcm.shape[0] if self.end_s is None else min(pcm.shape[0], round(self.end_s * vad.SAMPLE_RATE_HZ))
        if first >= pcm.shape[0]:
            raise vad.VadError(f"cannot read audio {str(self.path)!r} from {self.start_s} s: it is only "
                               f"{pcm.shape[0] / vad.SAMPLE_RATE_HZ:.2f} s long")
        return pcm[first:last]


@dataclass(frozen=True, kw_only=True)
class ClipOutcome:
    """One VAD clip of a file and what the recognizer said about it."""

    start_s: float
    end_s: float
    text: str
    confidence: float
    null_reason: NullReason
    latency_ms: float  # server-side total (queue + inference), what the budget applies to
    inference_ms: float
    round_trip_ms: float  # measured by the client

    def to_json(self) -> dict[str, Any]:
        """As written in results.json and transcribe-batch output."""
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "text": self.text,
                "confidence": round(self.confidence, 4), "null_reason": self.null_reason.to_json(),
                "latency_ms": round(self.latency_ms, 2), "inference_ms": round(self.inference_ms, 2),
                "round_trip_ms": round(self.round_trip_ms, 2)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClipOutcome:
        """From `to_json`'s output."""
        return cls(start_s=float(data["start_s"]), end_s=float(data["end_s"]), text=str(data["text"]),
                   confidence=float(data["confidence"]), null_reason=NullReason.from_json(data.get("null_reason")),
                   latency_ms=float(data["latency_ms"]), inference_ms=float(data.get("inference_ms", 0.0)),
                   round_trip_ms=float(data.get("round_trip_ms", 0.0)))


@dataclass(frozen=True, kw_only=True)
class FileTranscript:
    """A whole file: its clips' texts joined with spaces."""

    text: str
    clips: tuple[ClipOutcome, ...]
    model_id: str = ""
    model_version: str = ""


Source = Path | AudioSpan
"""A whole file, or a stretch of one (a segment of a labelled recording)."""

FileTranscriber = Callable[[Source], FileTranscript]
"""What the evaluation runner calls per utterance; tests substitute a fake."""


def transcribe_file(
    transcriber: Transcriber, source: str | Source, options: vad.VadOptions, *, revisions: bool = False,
    pace: float | None = None,
) -> FileTranscript:
    """VAD clips of a file or a span of one, each transcribed; raises `vad.VadError` for unreadable audio.

    A span is cut out first and then goes through the client VAD like a file of its own; its clips'
    times are relative to the span's start. With `revisions` the clips go as one session
    (`SessionTranscriber.stream`, TypeError for a transcriber that has none), at `pace` times the speed of
    speech if given: the clips' outcomes are their first results, the text is the session's after its
    revisions."""
    clips: list[ClipOutcome] = []
    model_id = model_version = ""
    if isinstance(source, AudioSpan) and not source.is_whole_file:
        pieces: Iterator[vad.Clip] = _span_clips(source.read(), options)
    else:
        pieces = vad.iter_file_clips(source.path if isinstance(source, AudioSpan) else source, options)
    received: list[Revision] = []
    answered: Iterable[tuple[vad.Clip, ClipResult]]
    if revisions:
        if not isinstance(transcriber, SessionTranscriber):
            raise TypeError(f"revisions need a transcriber that takes sessions; {type(transcriber).__name__} does not")
        session = list(pieces)
        sent = session if pace is None else paced(session, pace)
        answered = zip(session, transcriber.stream(sent, on_revision=received.append), strict=True)
    else:
        answered = ((clip, transcriber.recognize_clip(clip)) for clip in pieces)
    results: list[ClipResult] = []
    for clip, result in answered:
        model_id, model_version = result.model_id, result.model_version
        results.append(result)
        clips.append(ClipOutcome(
            start_s=clip.start_s, end_s=clip.end_s, text=result.text, confidence=result.confidence,
            null_reason=result.null_reason, latency_ms=result.latency.server_total_ms,
            inference_ms=result.latency.inference_ms, round_trip_ms=result.round_trip_ms,
        ))
    texts = revised([(r.result_id, r.text) for r in results], received) if received else [c.text for c in clips]
    text = " ".join(t.strip() for t in texts if t.strip())
    return FileTranscript(text=text, clips=tuple(clips), model_id=model_id, model_version=model_version)


@dataclass(frozen=True)
class ClipFileTranscriber:
    """`transcribe_file` bound to a transcriber and VAD options: a `FileTranscriber` that also says
    which settings it runs with (`settings`, `system`), so that results.json records them."""

    transcriber: Transcriber
    vad_options: vad.VadOptions
    revisions: bool = False  # one session per file, its text after the revisions (`transcribe_file`)
    pace: float | None = None  # with revisions: the clips at this many times the speed of speech

    def __post_init__(self) -> None:
        if self.revisions and not isinstance(self.transcriber, SessionTranscriber):
            raise ValueError(f"revisions: {type(self.transcriber).__name__} takes no sessions")

    def __call__(self, source: Source) -> FileTranscript:
        """The file (or span) through the client VAD, each clip transcribed alone (or as one session)."""
        return transcribe_file(self.transcriber, source, self.vad_options, revisions=self.revisions, pace=self.pace)

    def settings(self) -> dict[str, Any]:
        """How files become transcripts: client VAD clips, one call per clip (or one session per file, with
        revisions), and the VAD's options."""
        return {"path": "vad-clips", "calls": calls_setting(revisions=self.revisions, pace=self.pace),
                "vad": dataclasses.asdict(self.vad_options)}

    def system(self) -> dict[str, Any]:
        """The transcriber: `describe_transcriber`."""
        return describe_transcriber(self.transcriber)


@runtime_checkable
class DescribedFileTranscriber(Protocol):
    """A `FileTranscriber` that says what it runs with (`ClipFileTranscriber` is one)."""

    def __call__(self, source: Source) -> FileTranscript:
        """Transcribe one file or span."""
        ...

    def settings(self) -> dict[str, Any]:
        """results.json's ``settings.transcription``."""
        ...

    def system(self) -> dict[str, Any]:
        """Merged into results.json's ``model``."""
        ...


@runtime_checkable
class ManyFileTranscriber(Protocol):
    """A `FileTranscriber` that runs many files itself, in its own way (on a cluster's workers):
    `transcribe_files` hands it the whole list instead of running a thread pool."""

    def __call__(self, source: Source) -> FileTranscript:
        """Transcribe one file or span."""
        ...

    def transcribe_many(self, sources: Sequence[Source]) -> Iterator[tuple[int, FileTranscript | vad.VadError]]:
        """(index, transcript or the file's VadError) for each source, in completion order."""
        ...


def describe_transcriber(transcriber: Transcriber) -> dict[str, Any]:
    """What results.json's ``model`` records about a transcriber.

    In-process (anything with a `ServerConfig` as ``config``, i.e. `LocalTranscriber`): every engine
    option and the recognizer settings that change an answer or its latency (volume floor, clip length
    limit, admission; the budget is in results.json's ``options``). Through a server (anything with a
    ``target``): the target; the server's own settings are what its `ListModels` reports (the CLI adds
    them).
    """
    config = getattr(transcriber, "config", None)
    if isinstance(config, ServerConfig):
        return describe_config(config)
    target = getattr(transcriber, "target", None)
    if isinstance(target, str):
        return {"transcriber": f"server {target}"}
    return {"transcriber": type(transcriber).__name__}


def describe_config(config: ServerConfig) -> dict[str, Any]:
    """What results.json's ``model`` records of an in-process recognizer built from `config`: every
    engine option and the recognizer settings that change an answer or its latency."""
    return {"transcriber": "in-process", **dataclasses.asdict(config.engine),
            "volume_floor_dbfs": config.volume_floor_dbfs,
            "max_clip_s": config.max_clip_s, "admission": config.admission,
            "admission_headroom": config.admission_headroom,
            "max_concurrent_requests": config.max_concurrent_requests}


def calls_setting(*, revisions: bool, pace: float | None = None) -> str:
    """results.json's ``settings.transcription.calls``: how a file's clips were sent."""
    if not revisions:
        return "one recognize_clip per clip"
    paced_at = f", clips at {pace:g}x the speed of speech" if pace else ""
    return f"one session per file, asking for revisions; text after them{paced_at}"


def _span_clips(pcm: npt.NDArray[np.int16], options: vad.VadOptions) -> Iterator[vad.Clip]:
    segmenter = vad.Segmenter(options)
    yield from segmenter.push(pcm)
    yield from segmenter.flush()


def transcribe_files(
    transcribe: FileTranscriber, paths: Sequence[Source], *, workers: int = 1
) -> Iterator[tuple[int, FileTranscript | vad.VadError]]:
    """(index, transcript or the file's VadError) for each path, in completion order.

    With ``workers > 1`` that many files are in flight at once (the transcriber must be thread-safe);
    at most ``2 * workers`` are queued, so a large batch does not build up futures. A
    `ManyFileTranscriber` runs them all itself (``workers`` is then its business).
    """
    if isinstance(transcribe, ManyFileTranscriber):
        yield from transcribe.transcribe_many(paths)
        return
    if workers <= 1:
        for i, path in enumerate(paths):
            yield i, _guarded(transcribe, path)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr-batch") as pool:
        pending: dict[Future[FileTranscript | vad.VadError], int] = {}
        todo = iter(enumerate(paths))
        for i, path in todo:
            pending[pool.submit(_guarded, transcribe, path)] = i
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending[pool.submit(_guarded, transcribe, nxt[1])] = nxt[0]


def _guarded(transcribe: FileTranscriber, path: Source) -> FileTranscript | vad.VadError:
    try:
        return transcribe(path)
    except vad.VadError as exc:
        return exc
