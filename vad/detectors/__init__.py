"""Frame-level speech detectors behind one protocol, picked by name from ``DETECTORS``.

Add a detector by writing a class with ``classify(frames) -> bool array`` and registering a factory
``(VadOptions) -> FrameDetector`` under a new name. The Silero detector (``_silero.py``: ONNX via
onnxruntime, no torch) loads its model only when a stream asks for it.
"""

from vad.detectors._energy import EnergyDetector
from vad.detectors._protocol import DETECTORS, DetectorFactory, FrameDetector
from vad.detectors._silero import SileroDetector, SileroModelMissing
from vad.detectors._webrtc import WebRtcDetector

__all__ = [
    "DETECTORS",
    "DetectorFactory",
    "EnergyDetector",
    "FrameDetector",
    "SileroDetector",
    "SileroModelMissing",
    "WebRtcDetector",
]

DETECTORS["webrtc"] = WebRtcDetector.from_options
DETECTORS["energy"] = EnergyDetector.from_options
DETECTORS["silero"] = SileroDetector.from_options
