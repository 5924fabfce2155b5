"""Fixtures for the VAD tests: the real speech folder, found from this file's location."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEECH_DIR = REPO_ROOT.parent / "shared" / "data" / "speech"


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """``../shared/data/speech`` beside the checkout, or a skip that says why."""
    if not (SPEECH_DIR / "manifest.jsonl").is_file():
        pytest.skip(f"needs the real speech set at {SPEECH_DIR} (beside the checkout in CI; absent here)")
    return SPEECH_DIR


@pytest.fixture(scope="session")
def speech_rows(speech_dir: Path) -> list[dict[str, object]]:
    """Rows of the speech manifest."""
    lines = (speech_dir / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
