"""The device layer behind `asr listen`: a file played as a microphone, and the PortAudio wrapper.

No machine here has a microphone, so `MicrophoneInput` is driven by a stand-in for the `sounddevice`
module that calls the callback the way PortAudio does (cffi buffers, status flags, errors on open);
the real module is used where it can be without a device (listing devices, a device that is not there).
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from asr_service.client import FileInput, MicrophoneInput, list_input_devices
from asr_service.errors import CaptureError
from tests.paths import JFK_SAMPLE


def _collect(source: FileInput | MicrophoneInput, *, stop_after: float | None = None) -> tuple[list[bytes], int]:
    blocks: list[bytes] = []
    ended = threading.Event()
    ends = 0

    def on_end() -> None:
        nonlocal ends
        ends += 1
        ended.set()

    source.start(blocks.append, on_end)
    ended.wait(stop_after if stop_after is not None else 60.0)
    source.stop()
    return blocks, ends


def test_file_input_delivers_the_file_in_paced_blocks_at_its_own_rate(tmp_path: Path) -> None:
    audio, rate = sf.read(JFK_SAMPLE, dtype="int16")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([audio, audio // 2], axis=1), rate, subtype="PCM_16")
    source = FileInput(stereo, block_ms=100, speed=20.0)
    assert (source.sample_rate_hz, source.channels) == (16_000, 2)
    started = time.monotonic()
    blocks, ends = _collect(source)
    elapsed = time.monotonic() - started
    assert ends == 1
    assert len(blocks) == 110 and all(len(b) == 1600 * 2 * 2 for b in blocks)  # 11 s in 100 ms blocks
    got = np.frombuffer(b"".join(blocks), dtype=np.int16).reshape(-1, 2)
    np.testing.assert_array_equal(got[:, 0], audio)  # interleaved, in order, nothing lost
    # paced: each block comes when it "has been spoken" (11 s at 20x is 0.55 s); only a lower bound
    assert elapsed >= 0.5, elapsed


def test_file_input_stop_ends_delivery_mid_file() -> None:
    source = FileInput(JFK_SAMPLE, speed=10.0)
    blocks, ends = _collect(source, stop_after=0.3)
    count = len(blocks)
    time.sleep(0.2)
    assert ends == 0 and 0 < count < 110 and len(blocks) == count  # nothing after stop() returned
    source.stop()  # idempotent


def test_file_input_refuses_what_it_cannot_play(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio", encoding="utf-8")
    with pytest.raises(CaptureError, match=r"notes\.wav: cannot read audio"):
        FileInput(bad)
    with pytest.raises(CaptureError, match=r"missing\.wav"):
        FileInput(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="speed"):
        FileInput(JFK_SAMPLE, speed=0)


# -- MicrophoneInput over a stand-in for sounddevice ---------------------------------------------------


class _PortAudioError(Exception):
    pass


class _Status:
    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow


class _FakeStream:
    """Calls the callback from its own thread with cffi-like buffers, as PortAudio's thread does."""

    def __init__(self, sd: _FakeSoundDevice, *, callback: Callable[..., None], finished_callback: Callable[[], None],
                 blocksize: int, **kwargs: Any) -> None:
        self.sd, self.callback, self.finished = sd, callback, finished_callback
        self.blocksize, self.kwargs = blocksize, kwargs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        sd.streams.append(self)

    def start(self) -> None:
        if self.sd.busy:
            raise _PortAudioError("Error opening RawInputStream: Device unavailable [PaErrorCode -9985]")
        self._thread.start()

    def _run(self) -> None:
        pcm = self.sd.pcm
        for n, i in enumerate(range(0, pcm.size, self.blocksize)):
            if self._stop.is_set():
                break
            block = pcm[i : i + self.blocksize]
            self.callback(memoryview(block.tobytes()), block.size, None, _Status(n in self.sd.overflow_at))
        self._stop.wait()  # a device goes on until stopped
        self.finished()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        self.sd.closed += 1


class _FakeSoundDevice:
    PortAudioError = _PortAudioError

    def __init__(self, pcm: np.ndarray[Any, Any], *, busy: bool = False, overflow_at: tuple[int, ...] = ()) -> None:
        self.pcm, self.busy, self.overflow_at = pcm, busy, overflow_at
        self.streams: list[_FakeStream] = []
        self.closed = 0

    def query_devices(self, device: int | str | None = None, kind: str | None = None) -> dict[str, Any]:
        if device in (None, 3, "USB"):
            return {"index": 3, "name": "USB Audio Mic", "default_samplerate": 16000.0, "max_input_channels": 1}
        raise _PortAudioError(f"Error querying device {device}")

    def RawInputStream(self, **kwargs: Any) -> _FakeStream:  # sounddevice's name
        return _FakeStream(self, **kwargs)


@pytest.fixture()
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> Callable[..., _FakeSoundDevice]:
    def install(**kwargs: Any) -> _FakeSoundDevice:
        audio, _ = sf.read(JFK_SAMPLE, dtype="int16")
        sd = _FakeSoundDevice(audio[:16_000], **kwargs)
        monkeypatch.setattr("asr_service.client._capture._sounddevice", lambda: sd)
        return sd

    return install


def test_microphone_input_delivers_the_device_blocks_and_counts_overflows(
    fake_sd: Callable[..., _FakeSoundDevice],
) -> None:
    sd = fake_sd(overflow_at=(2, 5))
    mic = MicrophoneInput("USB", block_ms=100)
    assert (mic.name, mic.sample_rate_hz, mic.channels) == ("mic:USB Audio Mic", 16_000, 1)
    blocks: list[bytes] = []
    ended = threading.Event()
    mic.start(blocks.append, ended.set)
    deadline = time.monotonic() + 10
    while len(blocks) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    mic.stop()
    mic.stop()  # idempotent
    (stream,) = sd.streams
    assert stream.kwargs | {"blocksize": stream.blocksize} == {
        "device": 3, "samplerate": 16_000, "channels": 1, "dtype": "int16", "blocksize": 1600}
    assert all(isinstance(b, bytes) for b in blocks)  # copied out of PortAudio's buffer
    assert b"".join(blocks) == sd.pcm.tobytes()
    assert mic.overflows == 2 and ended.is_set() and sd.closed == 1


def test_microphone_that_is_busy_or_missing_is_one_clear_error(fake_sd: Callable[..., _FakeSoundDevice]) -> None:
    fake_sd(busy=True)
    mic = MicrophoneInput()
    with pytest.raises(CaptureError, match=r"cannot open input device 'USB Audio Mic' \(busy or unplugged\?\)"):
        mic.start(lambda block: None, lambda: None)
    mic.stop()  # nothing was opened: nothing to stop
    with pytest.raises(CaptureError, match=r"no input device 7 .*asr listen --list-devices"):
        MicrophoneInput(7)


def test_missing_sounddevice_or_portaudio_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from asr_service.client._capture import _sounddevice

    monkeypatch.setitem(sys.modules, "sounddevice", None)  # not installed
    with pytest.raises(CaptureError, match=r"pip install 'asr-service\[mic\]'"):
        _sounddevice()

    class NoPortAudio(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "sounddevice":  # what sounddevice raises when libportaudio is not found
                raise OSError("PortAudio library not found")

    monkeypatch.delitem(sys.modules, "sounddevice")
    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    with pytest.raises(CaptureError, match="libportaudio2"):
        _sounddevice()


def test_real_portaudio_lists_devices_and_refuses_one_that_is_not_there() -> None:
    pytest.importorskip("sounddevice", reason="the 'mic' extra (sounddevice + libportaudio2) is not installed")
    devices = list_input_devices()  # none on a CI machine; whatever is plugged in elsewhere
    assert all(d.channels > 0 and d.default_sample_rate_hz > 0 for d in devices)
    with pytest.raises(CaptureError, match=r"no input device 9999"):
        MicrophoneInput(9999)
