"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from asr_service.jsonl import Row, read_rows
from tests.browser import WebDriver, chromium
from tests.paths import SHARED_SPEECH


@pytest.fixture(scope="session")
def shared_speech() -> Path:
    """../shared/data/speech, or a skip saying why it is needed."""
    if not (SHARED_SPEECH / "manifest.jsonl").is_file():
        pytest.skip(f"needs the real speech set at {SHARED_SPEECH} (present in CI, absent in a user's clone)")
    return SHARED_SPEECH


@pytest.fixture(scope="session")
def speech_manifest(shared_speech: Path) -> list[dict[str, object]]:
    """The rows of ../shared/data/speech/manifest.jsonl (read by the project's own reader; a bad line fails)."""
    rows = []
    for row in read_rows(shared_speech / "manifest.jsonl"):
        assert isinstance(row, Row), row
        rows.append(row.data)
    return rows


@pytest.fixture()
def second_pass_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the default engine name load `tests.fakes.SecondPassEngine` (no model): "one clip" for a clip
    alone, another text for clips heard together (a revision's second pass), in this process."""
    from asr_service import engines
    from asr_service.engines.base import EngineOptions

    monkeypatch.setitem(engines.ENGINES, EngineOptions().engine, "tests.fakes:SecondPassEngine")


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """A headless Chromium (tests.browser), or a skip saying what is missing."""
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver
