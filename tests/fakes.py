"""Stand-ins the tests control: engines, recognition results and file transcribers.

Accuracy is never tested with them: the speech tests use the real embedded model.

- `FakeEngine`: says what it is told (text, confidence, degenerate output) after a delay.
- `GatedEngine`: blocks every transcription until the test opens its gate (admission control, draining).
- `ConstantEngine`: loadable by name from the engine registry (the `constant_engine` fixture puts it
  there), counting its calls across instances.
- `JointEngine`, `SecondPassEngine`: answer clips heard together (revisions) apart from a clip alone.
- `FakeClock`: a wall clock the test moves; `tone_bytes`: a LINEAR16 tone at a known level.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

import vad
from asr_service.audio import AudioStats
from asr_service.config import DEFAULT_BUDGET_MS
from asr_service.engines import SAMPLE_RATE_HZ, EngineInfo, EngineOptions, Transcription
from asr_service.engines.base import in_background
from asr_service.evaluation import AudioSpan, ClipOutcome, FileTranscript
from asr_service.recognizer import Latency, NullReason, RecognitionResult, VadStats
from asr_service.revisions import Revision

__all__ = [
    "FAKE_INFO",
    "ConstantEngine",
    "FakeClock",
    "FakeEngine",
    "GatedEngine",
    "JointEngine",
    "SecondPassEngine",
    "fake_file_transcriber",
    "recognition_result",
    "tone_bytes",
    "transcription",
]

FAKE_INFO = EngineInfo(model_id="fake", model_version="fake-1", engine="test", config_hash="0")


def transcription(audio: npt.NDArray[np.float32], text: str, *, confidence: float = 0.9,
                  no_speech_prob: float = 0.0, degenerate: bool = False) -> Transcription:
    """What an engine answers for `audio`."""
    return Transcription(text=text, confidence=confidence, no_speech_prob=no_speech_prob, avg_logprob=-0.1,
                         num_tokens=len(text.split()), window_s=audio.size / SAMPLE_RATE_HZ, used_fallback=False,
                         degenerate=degenerate)


class FakeEngine:
    """Says `text` with `confidence` after `delay_s`; model version "fake-1"."""

    def __init__(self, options: EngineOptions | None = None, *, text: str = "hello world", confidence: float = 0.8,
                 delay_s: float = 0.0, degenerate: bool = False) -> None:
        self.text, self.confidence, self.delay_s, self.degenerate = text, confidence, delay_s, degenerate
        self.calls = 0
        self.contexts: list[str] = []  # the context of each call, in order

    @property
    def info(self) -> EngineInfo:
        return FAKE_INFO

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        self.calls += 1
        self.contexts.append(context)
        if self.delay_s:
            time.sleep(self.delay_s)
        return transcription(audio, self.text, confidence=self.confidence, degenerate=self.degenerate)

    def close(self) -> None:
        pass


class GatedEngine:
    """Blocks every transcription until `gate` is set; counts the calls that started."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)
        self.closed = False

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id="gated", model_version="gated-1", engine="test", config_hash="0")

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        self.started.release()
        if not self.gate.wait(30):
            raise TimeoutError("test gate never opened")
        return transcription(audio, "gated")

    def close(self) -> None:
        self.closed = True


class ConstantEngine:
    """Says `TEXT` for every clip; `calls` counts transcriptions over all instances."""

    TEXT = "hello world"
    calls = 0
    lock = threading.Lock()

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id="constant", model_version="constant-1", engine="constant", config_hash="0")

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        with ConstantEngine.lock:
            ConstantEngine.calls += 1
        return transcription(audio, self.TEXT, no_speech_prob=0.01)

    def close(self) -> None:
        pass


class JointEngine:
    """One word per half second of audio: lower case for a clip alone (1.5 s or less: `tone_clips` are 1 s),
    upper case for the longer audio of clips heard together (or, with `worse`, a single word: a window the
    model ended early; with `unsure`, a confidence well below the clips')."""

    info = FAKE_INFO

    def __init__(self, *, worse: bool = False, unsure: bool = False, fail: bool = False,
                 second_pass_s: float = 0.0) -> None:
        """`unsure`: clips heard together get a confidence of 0.5 (a clip alone 0.9); `second_pass_s`: each
        pass over clips heard together takes this long."""
        self.worse, self.unsure, self.fail, self.second_pass_s = worse, unsure, fail, second_pass_s
        self.lengths: list[float] = []
        self.lock = threading.Lock()

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        seconds = audio.size / 16_000
        with self.lock:
            self.lengths.append(round(seconds, 1))
        if seconds <= 1.5:
            return transcription(audio, " ".join(["ask"] * round(seconds * 2)))
        if self.fail:
            raise RuntimeError("second pass broke")
        time.sleep(self.second_pass_s)
        return transcription(audio, "NOT" if self.worse else " ".join(["ASK"] * round(seconds * 2)),
                             confidence=0.5 if self.unsure else 0.9)

    def close(self) -> None:
        pass


class SecondPassEngine:
    """Says "one clip" in the foreground and "heard together" on the background thread (a second pass)."""

    info = FAKE_INFO

    def __init__(self, options: EngineOptions | None = None) -> None:  # loadable from the engine registry
        self.options = options

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        return transcription(audio, "all of the clips heard together as one" if in_background() else "one clip")

    def close(self) -> None:
        pass


def recognition_result(*, null: NullReason = NullReason.NONE, total_ms: float = 100.0,
                       inference_ms: float | None = None, queue_wait_ms: float = 0.0, rms_dbfs: float = -25.0,
                       duration_s: float = 2.0, used_fallback: bool = False,
                       vad: VadStats | None = None) -> RecognitionResult:
    """A result as the recognizer makes it (text "go forward" unless `null` says why there is none)."""
    return RecognitionResult(
        clip_id="c", text="" if null is not NullReason.NONE else "go forward", confidence=0.9, null_reason=null,
        no_speech_prob=0.0, model=FAKE_INFO, role="primary",
        latency=Latency(queue_wait_ms=queue_wait_ms, inference_ms=total_ms if inference_ms is None else inference_ms,
                        server_total_ms=total_ms, budget_ms=DEFAULT_BUDGET_MS),
        audio=AudioStats(duration_s=duration_s, rms_dbfs=rms_dbfs, peak_dbfs=-6.0, clipped_ratio=0.0,
                         sample_rate_hz=SAMPLE_RATE_HZ),
        vad=vad if vad is not None else VadStats(speech_ratio=0.7, pre_padding_ms=300, post_padding_ms=300),
        used_fallback=used_fallback)


def fake_file_transcriber(
    texts: Mapping[str, str], latency_ms: float = 120.0
) -> Callable[[Path | AudioSpan], FileTranscript]:
    """A FileTranscriber answering `texts[file name]` with one clip of `latency_ms`."""

    def transcribe(source: Path | AudioSpan) -> FileTranscript:
        text = texts[(source.path if isinstance(source, AudioSpan) else source).name]
        reason = NullReason.NONE if text else NullReason.NO_SPEECH
        clip = ClipOutcome(start_s=0.0, end_s=1.0, text=text, confidence=0.9, null_reason=reason,
                           latency_ms=latency_ms, inference_ms=latency_ms - 5, round_trip_ms=latency_ms + 2)
        return FileTranscript(text=text, clips=(clip,), model_id="fake", model_version="fake-1")

    return transcribe


class FakeClock:
    """A `time.time` stand-in: returns `now`, which the test moves."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def tone_bytes(seconds: float, amplitude: float) -> bytes:
    """A 220 Hz sine as 16 kHz LINEAR16, peak `amplitude` of full scale (RMS = amplitude / sqrt(2))."""
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return (np.sin(2 * np.pi * 220 * t) * amplitude * 32767).astype("<i2").tobytes()


def tone_clips(n: int, seconds: float = 1.0) -> list[vad.Clip]:
    """`n` VAD clips of a `seconds`-long tone (speech in their middle, 300 ms padding each side), one a second."""
    pcm = np.frombuffer(tone_bytes(seconds, 0.3), dtype=np.int16)
    stats = vad.ClipStats(speech_ratio=0.8, pre_padding_ms=300, post_padding_ms=300, gain_db=0.0, split=False,
                          rms_dbfs=-13.5, peak_dbfs=-10.5)
    edge = 0.3 * min(1.0, seconds)
    return [vad.Clip(index=i, pcm=pcm, start_s=float(i), end_s=i + seconds, speech_start_s=i + edge,
                     speech_end_s=i + seconds - edge, stats=stats) for i in range(n)]


class PausingSpeaker:
    """A live source's clips for a session with revisions: `before` clips, then a pause (`silence_s` says
    3 s, past `REVISION_PAUSE_S`) that lasts until a revision has come (or 10 s: then iterating fails), then
    the rest. Pass `self` as the clips, `silence_s` and `on_revision` to a transcriber's `stream`."""

    def __init__(self, clips: list[vad.Clip], before: int = 2) -> None:
        self.clips, self.before = clips, before
        self.revisions: list[Revision] = []
        self._revised = threading.Event()
        self._silent = 0.0

    def __iter__(self) -> Iterator[vad.Clip]:
        yield from self.clips[:self.before]
        self._silent = 3.0
        assert self._revised.wait(timeout=10), "no revision during the pause"
        self._silent = 0.0
        yield from self.clips[self.before:]

    def silence_s(self) -> float:
        return self._silent

    def on_revision(self, revision: Revision) -> None:
        self.revisions.append(revision)
        self._revised.set()
