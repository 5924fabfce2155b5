"""Fixtures of the evaluation tests: espeak-ng audio, the registry's default engine swapped for a constant one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.asr_service.evaluation.manifests import PHRASES
from tests.fakes import ConstantEngine


@pytest.fixture(scope="session")
def espeak_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of short synthetic utterances (espeak-ng), one per entry of PHRASES."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng to synthesise test speech (scripts/install-system-deps installs it)")
    folder = tmp_path_factory.mktemp("espeak")
    for name, text in PHRASES.items():
        subprocess.run(["espeak-ng", "-w", str(folder / name), text], check=True, capture_output=True)
    return folder


@pytest.fixture()
def constant_engine(monkeypatch: pytest.MonkeyPatch) -> type[ConstantEngine]:
    """Make the default engine name load `ConstantEngine` (no model needed) for this test."""
    from asr_service import engines
    from asr_service.engines.base import EngineOptions

    monkeypatch.setitem(engines.ENGINES, EngineOptions().engine, "tests.fakes:ConstantEngine")
    ConstantEngine.calls = 0
    return ConstantEngine
