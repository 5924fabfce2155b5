"""The core loads without gRPC: engines, recognizer, evaluation, drift and the in-process client.

Each import runs in a fresh interpreter, so that a module loaded by an earlier test cannot hide an
indirect import (e.g. a package `__init__` that imports the gRPC client).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

GRPC_MODULES = ("grpc", "grpc_health", "grpc_reflection", "protos")

GRPC_FREE = [
    "asr_service",
    "asr_service.errors",
    "asr_service.config",
    "asr_service.jsonl",
    "asr_service.engines",
    "asr_service.recognizer",
    "asr_service.deployment",
    "asr_service._loop",
    "asr_service.evaluation",
    "asr_service.evaluation.scoring",
    "asr_service.evaluation.manifest",
    "asr_service.evaluation.bootstrap",
    "asr_service.monitoring",
    "asr_service.monitoring._drift",
    "asr_service.client",
    "asr_service.client._local",
    "asr_service.client._capture",
    "asr_service.client._live",
    "asr_service.cli._listen",
]


def _top_level_modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", GRPC_FREE)
def test_core_module_loads_without_grpc(module: str) -> None:
    loaded = _top_level_modules_after(f"import {module}")
    assert not loaded & set(GRPC_MODULES), f"importing {module} loads {sorted(loaded & set(GRPC_MODULES))}"


def test_the_in_process_transcriber_from_the_client_package_loads_without_grpc() -> None:
    loaded = _top_level_modules_after("from asr_service.client import LocalTranscriber, ClipResult, Transcriber")
    assert not loaded & set(GRPC_MODULES)


def test_the_client_side_tools_without_a_server_load_without_grpc() -> None:
    loaded = _top_level_modules_after(
        "from asr_service.client import build_baseline, features_of_clip, manifest_clips, apply_gain, pitch_up")
    assert not loaded & set(GRPC_MODULES)


def test_the_check_sees_grpc_where_it_is_loaded() -> None:
    # The control: the server and the remote client do load gRPC and the generated code.
    assert {"grpc", "protos"} <= _top_level_modules_after("import asr_service.server")
    assert {"grpc", "protos"} <= _top_level_modules_after("from asr_service.client import AsrClient")
    assert {"grpc", "protos"} <= _top_level_modules_after("from asr_service.client import replay")
    assert {"grpc", "protos"} <= _top_level_modules_after("import asr_service; asr_service.AsrClient")


HEAVY_MODULES = ("grpc", "protos", "scipy", "matplotlib", "ctranslate2", "onnxruntime")


@pytest.mark.parametrize(
    "statement",
    [
        "import asr_service.cli",  # `asr --help`, and every command before it runs
        "import asr_service.monitoring",  # a server without a drift baseline never needs scipy
        "import asr_service.evaluation",  # matplotlib loads with the report's first figure
    ],
)
def test_heavy_libraries_load_only_where_they_are_used(statement: str) -> None:
    loaded = _top_level_modules_after(statement) & set(HEAVY_MODULES)
    assert not loaded, f"{statement!r} loads {sorted(loaded)}"


def test_the_heavy_check_sees_them_where_they_are_used() -> None:
    assert "scipy" in _top_level_modules_after(
        "import numpy as np; from asr_service.monitoring._drift import run_tests, DriftOptions;"
        "run_tests(np.arange(50.0), np.arange(50.0) + 1, DriftOptions())")
    assert "matplotlib" in _top_level_modules_after(
        "from asr_service.evaluation.plots import latency_png; latency_png([100.0, 120.0], 300.0)")


def test_building_the_cli_parser_loads_no_heavy_library() -> None:
    # `asr --help` (and every command's start) builds the whole parser: it must not pay for the
    # libraries only some commands use (took 4-6 s on a cold disk when it loaded them all).
    heavy = {"label_studio_sdk", "httpx", "scipy", "matplotlib", "jiwer", "onnxruntime", "ctranslate2", "grpc",
             "tokenizers", "whisper_normalizer", "yaml"}
    loaded = _top_level_modules_after("from asr_service.cli import build_parser; build_parser()")
    assert not loaded & heavy, f"building the parser loads {sorted(loaded & heavy)}"


@pytest.mark.parametrize("package", ["asr_service", "asr_service.evaluation", "labeling"])
def test_lazy_names_resolve_and_none_is_shadowed_by_a_submodule(package: str) -> None:
    # A lazy name that is also a submodule's name turns into the module once that module is loaded.
    import importlib
    import pkgutil

    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert not set(module.__all__) & submodules
    for name in module.__all__:
        assert getattr(module, name) is not None


CONVERT_MODULES = ("torch", "transformers")


@pytest.mark.parametrize("statement", [
    "import asr_service.engines",  # the registry names transformers-whisper without importing it
    "from asr_service.engines import create_engine, EngineOptions; create_engine(EngineOptions(model='tiny.en'))",
    "import asr_service.models",
    "from asr_service.models import inspect_checkpoint, check_engines, import_checkpoint, export_hf",
    "import asr_service.deployment",
    "import asr_service.server",
    "from asr_service.cli import build_parser; build_parser()",
])
def test_the_base_install_never_imports_torch_or_transformers(statement: str) -> None:
    # They come with the `convert` extra only; the transformers-whisper engine imports them when it is built.
    loaded = _top_level_modules_after(statement) & set(CONVERT_MODULES)
    assert not loaded, f"{statement!r} loads {sorted(loaded)}"


def test_the_convert_check_sees_them_where_they_are_used() -> None:
    pytest.importorskip("transformers", reason="needs the convert extra")
    assert {"torch", "transformers"} <= _top_level_modules_after(
        "from asr_service.models._checkpoint import require_convert_extra; require_convert_extra()")

