"""Fixtures for the Label Studio integration tests (marker ``labelstudio``).

They use ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` (``scripts/labelstudio start`` prints them with
``scripts/labelstudio env``) and skip with the reason when no server answers.
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labeling import LabelStudioConfig, LabelStudioSession

DEFAULT_URL = "http://127.0.0.1:8089"
DEFAULT_TEST_TOKEN = "0123456789abcdef0123456789abcdef01234567"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def ls_config() -> LabelStudioConfig:
    # Without the variables, the defaults of `scripts/labelstudio start` (a test-only token).
    url = os.environ.get("LABEL_STUDIO_URL") or DEFAULT_URL
    key = os.environ.get("LABEL_STUDIO_API_KEY") or DEFAULT_TEST_TOKEN
    if not _answers(url):
        pytest.skip(f"no Label Studio answers at {url}: run `scripts/labelstudio start` "
                    "(and export LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY for another server)")
    return LabelStudioConfig(url=url, api_key=key,
                             document_root=Path(os.environ.get("LABEL_STUDIO_DOCUMENT_ROOT", "/")))


@pytest.fixture(scope="session")
def ls_session(ls_config: LabelStudioConfig) -> Iterator[LabelStudioSession]:
    with LabelStudioSession.connect(ls_config) as session:
        yield session


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]
