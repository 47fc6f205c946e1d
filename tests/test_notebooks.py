"""The lecture's notebooks: kept without outputs, opening in Colab, and run top to bottom by
a real Jupyter kernel on tiny data, so none of them can rot."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from helpers import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_lecture_has_its_notebooks():
    names = [path.stem for path in NOTEBOOKS]
    assert names == ["01_mnist_cnn", "02_imdb_rnn_lstm_gru", "03_numpy_rnn_against_keras",
                     "04_your_own_data", "05_beyond_the_lecture"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_is_kept_without_outputs_and_opens_in_colab(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} has outputs: clear them before committing")
    first, install = notebook.cells[0], notebook.cells[1]
    assert "colab.research.google.com/github/" in first.source
    assert f"/notebooks/{path.name})" in first.source
    assert "google.colab" in install.source and "pip install" in install.source
    sizes = "\n".join(cell.source for cell in notebook.cells)
    assert "DLCOURSE_NOTEBOOK_SIZE" in sizes and '"full"' in sizes


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebooks_size_is_read_in_any_case_and_a_misspelt_one_named(path, monkeypatch):
    (cell,) = [cell.source for cell in nbformat.read(path, as_version=4).cells
               if "DLCOURSE_NOTEBOOK_SIZE\", " in cell.source]
    monkeypatch.setenv("DLCOURSE_NOTEBOOK_SIZE", "TINY")
    exec(cell, namespace := {})
    assert namespace["LIMITS"]["data.limit"] == 64
    monkeypatch.setenv("DLCOURSE_NOTEBOOK_SIZE", "tinny")  # was a bare KeyError: 'tinny'
    with pytest.raises(ValueError, match="DLCOURSE_NOTEBOOK_SIZE is 'tinny': set it to tiny"):
        exec(cell, {})


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_runs_top_to_bottom_in_a_kernel(path, data_dir, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    # The kernel inherits this environment: tiny limits and the tests' tiny data.
    monkeypatch.setenv("DLCOURSE_NOTEBOOK_SIZE", "tiny")
    monkeypatch.setenv("DLCOURSE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback
    shown = [output for cell in notebook.cells if cell.cell_type == "code"
             for output in cell.outputs]
    assert not [output for output in shown if output.get("output_type") == "error"]
    # Each train added an empty output block: the summary's capture, shown by rich.
    assert not [output for output in shown if output.get("output_type") == "display_data"
                and not "".join(output.get("data", {}).get("text/plain", "")).strip()]
    # Figures are printed for people: 0.692, not 0.692307710647583.
    printed = "".join(output.get("text", "") for output in shown)
    assert not re.search(r"\d\.\d{6,}", printed), printed
    # The results show themselves as HTML, not as a dataclass's repr.
    html = [output for output in shown if "text/html" in output.get("data", {})]
    if path.stem != "03_numpy_rnn_against_keras":
        assert html, f"{path.name} displayed no result"
    assert Path(tmp_path / "runs").is_dir()
