"""Execute notebooks/evaluation.ipynb (committed without outputs) on the shared speech; its `notebook` extra."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "evaluation.ipynb"
FIRST_PARTY = {"asr_service", "vad", "labeling", "protos"}


def _code_cells() -> list[ast.Module]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return [ast.parse("".join(c["source"])) for c in cells if c["cell_type"] == "code"]


def _requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_notebook_extra_covers_its_imports_and_keeps_torch_out() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    notebook = _requirement_names(extras["notebook"])
    assert not notebook & {"torch", "transformers"}
    assert "asr-service[notebook]" in extras["dev"]  # the notebook test runs with the dev extra
    provided = _requirement_names(project["dependencies"]) | notebook
    imported = {alias.name.split(".")[0] for tree in _code_cells() for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for tree in _code_cells() for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    third_party = imported - FIRST_PARTY - set(sys.stdlib_module_names)
    assert third_party, "the notebook imports something beyond the standard library"
    distributions = metadata.packages_distributions()
    for module in sorted(third_party):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        assert names & provided, f"the notebook imports {module} ({names}), which no dependency or extra provides"


def test_notebook_writes_to_no_fixed_path() -> None:
    literals = [node.value for tree in _code_cells() for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert "ASR_NOTEBOOK_OUT" in literals
    assert not [s for s in literals if s.startswith(("/", "~")) or "/tmp" in s]


def test_notebook_is_committed_without_outputs() -> None:
    nbformat = pytest.importorskip("nbformat", reason="needs nbformat (dev dependency)")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.shared_data
def test_notebook_executes(shared_speech: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="needs nbformat (dev dependency)")
    nbclient = pytest.importorskip("nbclient", reason="needs nbclient and ipykernel (dev dependencies)")
    monkeypatch.setenv("ASR_SHARED_SPEECH", str(shared_speech))
    monkeypatch.setenv("ASR_NOTEBOOK_LIMIT", "16")  # keep it to about a minute on 2 cores
    monkeypatch.delenv("ASR_NOTEBOOK_OUT", raising=False)  # so it makes a temporary directory of its own ...
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # ... here
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # the kernel's own start-up warnings are not ours
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "WER" in text and "worst slice:" in text and ("PASS" in text or "FAIL" in text)
    (out,) = tmp_path.glob("asr-eval-notebook-*")
    assert (out / "int8" / "report.html").is_file() and (out / "int8_float32" / "results.json").is_file()
    assert "setting that differs: model.compute_type: int8 -> int8_float32" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
