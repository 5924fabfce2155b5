"""Where the suite finds the repository and the shared speech set."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO_ROOT", "SHARED_SPEECH"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SPEECH = REPO_ROOT.parent / "shared" / "data" / "speech"
