"""The Silero detector: the Silero VAD v5 network (ONNX, run with onnxruntime, no torch) over 32 ms frames.

Silero decides on 512-sample windows at 16 kHz, each seen with the last 64 samples of the window before
it, and carries an LSTM state from window to window; so one frame is one window (``frame_ms`` = 32) and
one detector serves one stream. A frame is voiced when the speech probability reaches
``silero_threshold``, or, while the frame before it was voiced, ``silero_threshold - 0.15`` (Silero's own
hysteresis, ``neg_threshold`` in silero-vad's ``get_speech_timestamps``). The browser client runs the same
model, the same 64-sample context and the same rule with onnxruntime-web (``web/src/silero.js``).

The model file is not part of the package (2.3 MB): ``asr silero install`` puts it, with the browser's
onnxruntime-web runtime, in ``silero_dir()`` (``$ASR_SILERO_DIR``, else ``~/.cache/asr-service/silero``),
checked against a pinned SHA-256. ``$VAD_SILERO_MODEL`` names another file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from vad._options import VadOptions

__all__ = [
    "SILERO_FRAME_MS",
    "SILERO_MODEL_FILE",
    "SILERO_MODEL_SHA256",
    "SileroDetector",
    "SileroModelMissing",
    "silero_dir",
    "silero_model_path",
]

SILERO_FRAME_MS = 32
"""The only frame length Silero v5 takes at 16 kHz: 512 samples."""
SILERO_MODEL_FILE = "silero_vad_v5.onnx"
SILERO_MODEL_SHA256 = "2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"
"""The file @ricky0123/vad-web 0.0.31 ships (dist/silero_vad_v5.onnx): the model the browser runs."""
HYSTERESIS = 0.15
_CONTEXT = 64
_RATE_HZ = 16000


class SileroModelMissing(FileNotFoundError):
    """The Silero model file is not installed; the message says how to get it."""


def silero_dir() -> Path:
    """Where `asr silero install` puts the Silero assets: $ASR_SILERO_DIR, else the user's cache."""
    env = os.environ.get("ASR_SILERO_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "asr-service" / "silero"


def silero_model_path() -> Path:
    """The model file the detector loads: $VAD_SILERO_MODEL, else silero_dir() / SILERO_MODEL_FILE."""
    env = os.environ.get("VAD_SILERO_MODEL")
    return Path(env).expanduser() if env else silero_dir() / SILERO_MODEL_FILE


_SESSIONS: dict[Path, Any] = {}  # one onnxruntime session per model file, shared by every stream's detector


def _session(path: Path) -> Any:
    session = _SESSIONS.get(path)
    if session is not None:
        return session
    if not path.is_file():
        raise SileroModelMissing(
            f"the Silero VAD model is not installed ({path} is missing): run `asr silero install` (it fetches "
            f"@ricky0123/vad-web's {SILERO_MODEL_FILE} from the npm registry, or copies it with --from "
            "web/node_modules), or set VAD_SILERO_MODEL to the file")
    if path == silero_dir() / SILERO_MODEL_FILE:  # the pinned install; a file named by the user is theirs
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != SILERO_MODEL_SHA256:
            raise SileroModelMissing(f"{path} is not the pinned Silero v5 model (sha256 {digest[:12]}..., expected "
                                     f"{SILERO_MODEL_SHA256[:12]}...): run `asr silero install` again")
    import onnxruntime  # light import for users of the other detectors

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1  # a client-side VAD: one small window at a time, one core
    opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    _SESSIONS[path] = session
    return session


class SileroDetector:
    """Silero VAD v5 on 32 ms frames at 16 kHz, with Silero's hysteresis (see the module)."""

    def __init__(self, threshold: float, model: Path | None = None) -> None:
        self.threshold = threshold
        self._session = _session(model or silero_model_path())
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context: NDArray[np.float32] = np.zeros(_CONTEXT, dtype=np.float32)
        self._sr = np.array(_RATE_HZ, dtype=np.int64)
        self._voiced = False
        self.last_probability = 0.0  # the speech probability of the last frame classified

    @classmethod
    def from_options(cls, options: VadOptions) -> SileroDetector:
        """Factory registered as ``DETECTORS["silero"]``."""
        return cls(options.silero_threshold)

    def classify(self, frames: NDArray[np.int16]) -> NDArray[np.bool_]:
        """One decision per 512-sample frame, in stream order (the model's state runs through them)."""
        n_frames, frame_samples = frames.shape
        if frame_samples != _RATE_HZ * SILERO_FRAME_MS // 1000:
            raise ValueError(f"Silero takes frames of 512 samples (32 ms); got {frame_samples}")
        decisions = np.zeros(n_frames, dtype=np.bool_)
        window = np.empty((1, _CONTEXT + frame_samples), dtype=np.float32)
        for i in range(n_frames):
            window[0, :_CONTEXT] = self._context
            window[0, _CONTEXT:] = frames[i] / np.float32(32768.0)
            self._context = window[0, -_CONTEXT:].copy()
            out, self._state = self._session.run(None, {"input": window, "state": self._state, "sr": self._sr})
            p = self.last_probability = float(out[0, 0])
            self._voiced = p >= (self.threshold - HYSTERESIS if self._voiced else self.threshold)
            decisions[i] = self._voiced
        return decisions
