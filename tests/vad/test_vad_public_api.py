"""The public surface: exactly the documented names, each with its own docstring, no heavy imports."""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import subprocess
import sys
from pathlib import Path

import vad

PUBLIC = {
    "SAMPLE_RATE_HZ",
    "VadOptions",
    "Clip",
    "ClipStats",
    "Segmenter",
    "VadError",
    "read_audio",
    "iter_file_clips",
    "iter_pcm_clips",
    "DETECTORS",
}
VAD_DIR = Path(vad.__file__).parent


def _attribute_docstrings() -> dict[str, str]:
    """Docstrings written as a string literal right after a module-level assignment, in vad/."""
    found: dict[str, str] = {}
    for path in VAD_DIR.rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node, after in itertools.pairwise(body):
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            if not isinstance(node, ast.Assign | ast.AnnAssign):
                continue
            is_doc = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
            for target in targets:
                if isinstance(target, ast.Name) and is_doc:
                    found[target.id] = str(after.value.value)  # type: ignore[union-attr]
    return found


def test_all_is_exactly_the_public_names() -> None:
    assert set(vad.__all__) == PUBLIC
    assert len(vad.__all__) == len(PUBLIC)
    for name in vad.__all__:
        assert hasattr(vad, name)


def test_every_public_name_has_its_own_docstring() -> None:
    constants = _attribute_docstrings()
    for name in vad.__all__:
        obj = getattr(vad, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
        else:
            assert constants.get(name, "").strip(), f"{name} needs a docstring after its assignment"


def test_package_docstring_documents_the_algorithm() -> None:
    doc = vad.__doc__ or ""
    for term in (
        "pre_padding_ms",
        "post_padding_ms",
        "min_silence_ms",
        "min_speech_ms",
        "max_clip_s",
        "Split",
    ):
        assert term in doc


def test_vad_never_imports_protos_or_asr_service() -> None:
    for path in VAD_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in {"protos", "asr_service", "grpc", "torch"}, f"{path}: {name}"
    code = (
        "import sys, vad; heavy = ('protos', 'asr_service', 'grpc', 'torch');"
        " print([m for m in sys.modules if m.split('.')[0] in heavy])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=VAD_DIR.parent
    )
    assert out.stdout.strip() == "[]"


def test_private_modules_are_importable_and_detectors_registered() -> None:
    for module in (
        "_clip",
        "_convert",
        "_errors",
        "_framing",
        "_levels",
        "_options",
        "_segmenter",
        "_sources",
    ):
        importlib.import_module(f"vad.{module}")
    assert set(vad.DETECTORS) >= {"webrtc", "energy"}
