"""Where the suite finds the repository and the shared speech set."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ESPEAK_SAMPLE", "JFK_SAMPLE", "REPO_ROOT", "SHARED_SPEECH"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
ESPEAK_SAMPLE = REPO_ROOT / "tests" / "data" / "espeak_sample.wav"
"""Four synthetic sentences (espeak-ng, 22.05 kHz) with 1.2 s pauses; the words are in the .txt beside it."""
JFK_SAMPLE = REPO_ROOT / "asr_service" / "data" / "jfk.wav"
"""The real recording the package ships for the demo (11 s, 16 kHz); its reference is in jfk.txt beside it."""
