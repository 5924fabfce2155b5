"""Live audio inputs: a microphone through PortAudio, or a file played at the pace of speech.

Everything `asr listen` needs from a device is `AudioInput`: it delivers blocks of s16le PCM (channels
interleaved, at its own rate) to a callback on its own thread until it is stopped or its audio ends.
`MicrophoneInput` is the real device (`sounddevice`, the optional `mic` extra, over the system's
PortAudio); `FileInput` plays a file in real-time-sized blocks, for trying `asr listen` without a
microphone and for the tests, which drive everything after the capture callback with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from asr_service.errors import CaptureError

__all__ = ["AudioInput", "BlockCallback", "FileInput", "InputDevice", "MicrophoneInput", "list_input_devices"]

BlockCallback = Callable[[bytes], None]
"""Receives one block of s16le PCM (channels interleaved) at the input's rate."""

DEFAULT_BLOCK_MS = 100


class AudioInput(Protocol):
    """A live audio source (the device layer behind `asr listen`)."""

    @property
    def name(self) -> str:
        """What to call this input in messages and in the JSON output's `file` field."""
        ...

    @property
    def sample_rate_hz(self) -> int:
        """Rate of the delivered PCM."""
        ...

    @property
    def channels(self) -> int:
        """Channels interleaved in each block."""
        ...

    def start(self, on_block: BlockCallback, on_end: Callable[[], None]) -> None:
        """Begin delivering blocks to `on_block` from another thread; `on_end` runs once if the audio ends
        by itself (end of file, device gone). Raises `CaptureError` when the input cannot start."""
        ...

    def stop(self) -> None:
        """Stop delivering; returns after the last `on_block` call has returned. Idempotent."""
        ...


@dataclass(frozen=True, kw_only=True)
class InputDevice:
    """One capture device as PortAudio lists it."""

    index: int
    name: str
    host_api: str
    channels: int
    default_sample_rate_hz: float
    is_default: bool


def _sounddevice() -> Any:
    """The `sounddevice` module, or a `CaptureError` that says what to install."""
    try:
        import sounddevice
    except ImportError:
        raise CaptureError(
            "capturing from a microphone needs the 'mic' extra: pip install 'asr-service[mic]'"
        ) from None
    except OSError as exc:  # sounddevice is there but the PortAudio library is not
        raise CaptureError(
            f"PortAudio is not installed ({exc}); on Debian/Ubuntu: sudo apt-get install libportaudio2"
        ) from None
    return sounddevice


def list_input_devices() -> list[InputDevice]:
    """The devices that can capture audio (empty when there are none)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
        apis = sd.query_hostapis()
    except sd.PortAudioError as exc:
        raise CaptureError(f"cannot list audio devices: {exc}") from None
    return [
        InputDevice(
            index=int(d["index"]),
            name=str(d["name"]),
            host_api=str(apis[d["hostapi"]]["name"]),
            channels=int(d["max_input_channels"]),
            default_sample_rate_hz=float(d["default_samplerate"]),
            is_default=int(d["index"]) == default_in,
        )
        for d in devices
        if int(d["max_input_channels"]) > 0
    ]


class MicrophoneInput:
    """A capture device through PortAudio, mono, at the device's default rate (the VAD resamples).

    `device` is an index or a substring of a name, as `asr listen --list-devices` shows them; None is
    the system's default input. Finding the device happens here, opening it in `start`: a missing device
    and a busy one both raise `CaptureError` with one line that says which and what to do.
    """

    def __init__(self, device: int | str | None = None, *, block_ms: int = DEFAULT_BLOCK_MS) -> None:
        self._sd = sd = _sounddevice()
        try:
            info: dict[str, Any] = sd.query_devices(device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            which = "no default input device" if device is None else f"no input device {device!r}"
            raise CaptureError(f"{which} ({exc}); `asr listen --list-devices` shows what there is") from None
        self._device = int(info["index"])
        self._name = str(info["name"])
        self._rate = int(info["default_samplerate"])
        self._block_frames = max(1, self._rate * block_ms // 1000)
        self._stream: Any = None
        self._lock = threading.Lock()
        self.overflows = 0
        """Times PortAudio reported that the input overflowed (audio lost before it reached us)."""

    @property
    def name(self) -> str:
        return f"mic:{self._name}"

    @property
    def sample_rate_hz(self) -> int:
        return self._rate

    @property
    def channels(self) -> int:
        return 1

    def start(self, on_block: BlockCallback, on_end: Callable[[], None]) -> None:
        sd = self._sd

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status.input_overflow:
                self.overflows += 1
            on_block(bytes(indata))

        try:
            stream = sd.RawInputStream(
                device=self._device, samplerate=self._rate, channels=1, dtype="int16",
                blocksize=self._block_frames, callback=callback, finished_callback=on_end,
            )
            stream.start()
        except sd.PortAudioError as exc:
            raise CaptureError(f"cannot open input device {self._name!r} (busy or unplugged?): {exc}") from None
        with self._lock:
            self._stream = stream

    def stop(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.stop()  # waits for the callback in progress; the finished callback runs once
            stream.close()


class FileInput:
    """Plays an audio file as a microphone would deliver it: blocks of `block_ms` at the pace of speech.

    The file keeps its own rate and channels (the VAD downmixes and resamples, as it does for a device).
    `speed` > 1 plays faster than real time (tests); the schedule follows the clock, so a slow consumer
    does not stretch it.
    """

    def __init__(self, path: str | Path, *, block_ms: int = DEFAULT_BLOCK_MS, speed: float = 1.0) -> None:
        import soundfile as sf

        if not speed > 0:
            raise ValueError(f"speed: {speed!r} is out of range (allowed: > 0)")
        self.path = Path(path)
        try:
            audio, rate = sf.read(str(self.path), dtype="int16", always_2d=True)
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            raise CaptureError(f"{self.path}: cannot read audio ({exc})") from None
        self._pcm: np.ndarray[Any, np.dtype[np.int16]] = np.ascontiguousarray(audio)
        self._rate = int(rate)
        self._block = max(1, self._rate * block_ms // 1000)
        self._period_s = block_ms / 1000.0 / speed
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def sample_rate_hz(self) -> int:
        return self._rate

    @property
    def channels(self) -> int:
        return int(self._pcm.shape[1])

    @property
    def duration_s(self) -> float:
        """Length of the file."""
        return float(self._pcm.shape[0] / self._rate)

    def start(self, on_block: BlockCallback, on_end: Callable[[], None]) -> None:
        if self._thread is not None:
            raise CaptureError(f"{self.path}: this input has already been started")
        self._thread = threading.Thread(target=self._play, args=(on_block, on_end), name="file-input", daemon=True)
        self._thread.start()

    def _play(self, on_block: BlockCallback, on_end: Callable[[], None]) -> None:
        started = time.monotonic()
        for n, i in enumerate(range(0, self._pcm.shape[0], self._block)):
            # A device delivers a block once it has been captured: wait until this one "has been spoken".
            if self._stopping.wait(max(0.0, started + (n + 1) * self._period_s - time.monotonic())):
                return
            on_block(self._pcm[i : i + self._block].tobytes())
        on_end()

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
