"""The committed browser bundle (asr_service/webapp) is what web/ builds, and `scripts/build_web --check`
notices a change to any source, the lockfile or the proto, with no node needed."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from asr_service.webapp import APP_FILES, app_file
from tests.paths import REPO_ROOT


def _load_build_web() -> ModuleType:
    spec = importlib.util.spec_from_loader("build_web", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(REPO_ROOT / "scripts" / "build_web")
    exec(compile((REPO_ROOT / "scripts" / "build_web").read_text(), "scripts/build_web", "exec"), module.__dict__)
    return module


def test_the_committed_bundle_is_fresh() -> None:
    done = subprocess.run([sys.executable, "scripts/build_web", "--check"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("changed", ["protos/asr/v1/asr.proto", "web/package-lock.json", "web/src/segmenter.js",
                                     "asr_service/webapp/app.js"])
def test_the_check_fails_when_a_source_or_the_bundle_changes(tmp_path: Path, changed: str) -> None:
    for part in ("web/src", "web/build.mjs", "web/package.json", "web/package-lock.json", "protos/asr/v1/asr.proto",
                 "asr_service/webapp"):
        source, copy = REPO_ROOT / part, tmp_path / part
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy)
    build_web = _load_build_web()
    build_web.REPO, build_web.WEB = tmp_path, tmp_path / "web"
    build_web.OUT = tmp_path / "asr_service" / "webapp"
    build_web.STAMP = build_web.OUT / "BUILD.json"
    assert build_web.check() == 0
    with (tmp_path / changed).open("ab") as f:
        f.write(b"\n")
    assert build_web.check() == 1


def test_every_served_file_is_in_the_package() -> None:
    for name in APP_FILES:
        found = app_file(name)
        assert found is not None and found[0], name
    assert app_file("../__init__.py") is None and app_file("secret") is None
    index = app_file("index.html")
    assert index is not None and b'src="app.js"' in index[0]
