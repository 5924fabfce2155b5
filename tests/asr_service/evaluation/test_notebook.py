"""Execute notebooks/evaluation.ipynb (committed without outputs) on the shared speech."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "evaluation.ipynb"


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
    monkeypatch.setenv("ASR_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")  # the kernel's own start-up warnings are not ours
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "WER" in text and "worst slice:" in text and ("PASS" in text or "FAIL" in text)
    assert (tmp_path / "int8" / "report.html").is_file() and (tmp_path / "int8_float32" / "results.json").is_file()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2
