"""A stand-in engine whose timing the test controls, for admission control, loading and draining.

Accuracy is never tested with it: the speech tests use the real embedded model.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

from asr_service.engines import EngineInfo, EngineOptions, Transcription


class GatedEngine:
    """Blocks every transcription until `gate` is set; counts the calls that started."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)
        self.closed = False

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(model_id="gated", model_version="gated-1", engine="test", config_hash="0")

    def transcribe(self, audio: npt.NDArray[np.float32]) -> Transcription:
        self.started.release()
        if not self.gate.wait(30):
            raise TimeoutError("test gate never opened")
        return Transcription(
            text="gated",
            confidence=0.9,
            no_speech_prob=0.0,
            avg_logprob=-0.1,
            num_tokens=1,
            window_s=float(audio.size) / 16_000,
            used_fallback=False,
            degenerate=False,
        )

    def close(self) -> None:
        self.closed = True
