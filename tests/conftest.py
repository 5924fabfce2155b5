"""Fixtures shared by the whole suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.paths import SHARED_SPEECH


@pytest.fixture(scope="session")
def shared_speech() -> Path:
    """../shared/data/speech, or a skip saying why it is needed."""
    if not (SHARED_SPEECH / "manifest.jsonl").is_file():
        pytest.skip(f"needs the real speech set at {SHARED_SPEECH} (present in CI, absent in a user's clone)")
    return SHARED_SPEECH


@pytest.fixture(scope="session")
def speech_manifest(shared_speech: Path) -> list[dict[str, object]]:
    """The rows of ../shared/data/speech/manifest.jsonl."""
    lines = (shared_speech / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
