"""Frame-level speech detectors behind one protocol, picked by name from ``DETECTORS``.

Add a detector by writing a class with ``classify(frames) -> bool array`` and registering a factory
``(VadOptions) -> FrameDetector`` under a new name. An optional Silero detector (ONNX via onnxruntime,
no torch) belongs here as ``_silero.py``; it is deliberately not built.
"""

from vad.detectors._energy import EnergyDetector
from vad.detectors._protocol import DETECTORS, DetectorFactory, FrameDetector
from vad.detectors._webrtc import WebRtcDetector

__all__ = ["DETECTORS", "DetectorFactory", "EnergyDetector", "FrameDetector", "WebRtcDetector"]

DETECTORS["webrtc"] = WebRtcDetector.from_options
DETECTORS["energy"] = EnergyDetector.from_options
