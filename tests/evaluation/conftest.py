"""Fixtures of the evaluation tests: small manifests of their own, espeak-ng audio, fake transcribers."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from asr_service.engines import EngineInfo, EngineOptions, Transcription
from asr_service.evaluation import ClipOutcome, FileTranscript
from asr_service.recognizer import NullReason

PHRASES = {
    "hello.wav": "Hello world.",
    "morning.wav": "Good morning, everybody.",
    "forward.wav": "Go forward ten meters.",
}


def write_manifest(path: Path, rows: Iterable[Mapping[str, Any] | str]) -> Path:
    """Rows as JSON lines (a str row is written as is, to make broken lines)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def espeak_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of short synthetic utterances (espeak-ng), one per entry of PHRASES."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng to synthesise test speech (scripts/install-system-deps installs it)")
    folder = tmp_path_factory.mktemp("espeak")
    for name, text in PHRASES.items():
        subprocess.run(["espeak-ng", "-w", str(folder / name), text], check=True, capture_output=True)
    return folder


def fake_file_transcriber(
    texts: Mapping[str, str], latency_ms: float = 120.0
) -> Callable[[Path], FileTranscript]:
    """A FileTranscriber answering `texts[file name]` with one clip of `latency_ms`."""

    def transcribe(path: Path) -> FileTranscript:
        text = texts[path.name]
        reason = NullReason.NONE if text else NullReason.NO_SPEECH
        clip = ClipOutcome(start_s=0.0, end_s=1.0, text=text, confidence=0.9, null_reason=reason,
                           latency_ms=latency_ms, inference_ms=latency_ms - 5, round_trip_ms=latency_ms + 2)
        return FileTranscript(text=text, clips=(clip,), model_id="fake", model_version="fake-1")

    return transcribe


class ConstantEngine:
    """An engine that says `TEXT` for every clip (put in the registry by the `constant_engine` fixture)."""

    TEXT = "hello world"
    calls = 0
    lock = threading.Lock()

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id="constant", model_version="constant-1", engine="constant", config_hash="0")

    def transcribe(self, audio: npt.NDArray[np.float32]) -> Transcription:
        with ConstantEngine.lock:
            ConstantEngine.calls += 1
        return Transcription(text=self.TEXT, confidence=0.9, no_speech_prob=0.01, avg_logprob=-0.1, num_tokens=2,
                             window_s=audio.size / 16_000, used_fallback=False, degenerate=False)

    def close(self) -> None:
        pass


@pytest.fixture()
def constant_engine(monkeypatch: pytest.MonkeyPatch) -> type[ConstantEngine]:
    """Make the default engine name load `ConstantEngine` (no model needed) for this test."""
    from asr_service import engines
    from asr_service.engines.base import EngineOptions

    monkeypatch.setitem(engines.ENGINES, EngineOptions().engine, "tests.evaluation.conftest:ConstantEngine")
    ConstantEngine.calls = 0
    return ConstantEngine
