import csv
import io
import json
import subprocess
import sys

import pytest

import dlcourse
from dlcourse.comparison import collect_runs, format_table
from dlcourse.errors import RunError

from conftest import ROOT


@pytest.fixture
def two_runs(data_dir, tmp_path):
    runs = tmp_path / "runs"
    overrides = {"data.limit": 32, "fit.epochs": 2}
    for name in ("imdb_simplernn", "imdb_lstm"):
        dlcourse.train(ROOT / "configs" / f"{name}.yaml", overrides, data_dir=data_dir,
                       output_dir=runs)
    return runs


@pytest.mark.slow
def test_compare_lists_both_runs_with_their_figures(two_runs, tmp_path):
    summaries = {summary.config: summary for summary in collect_runs([two_runs])}
    assert set(summaries) == {"imdb_simplernn", "imdb_lstm"}
    for name, summary in summaries.items():
        metrics = json.loads((summary.run_dir / "metrics.json").read_text())
        assert summary.test_accuracy == metrics["test_accuracy"]
        assert summary.best_val_accuracy == metrics["best_val_accuracy"]
        assert summary.parameters == metrics["parameters"] and summary.epochs == 2
    assert summaries["imdb_lstm"].model == "Embedding-LSTM-Dense"

    rows = list(csv.DictReader(io.StringIO(format_table(summaries.values(), "csv"))))
    assert {row["config"] for row in rows} == {"imdb_simplernn", "imdb_lstm"}
    lstm = next(row for row in rows if row["config"] == "imdb_lstm")
    assert lstm["parameters"] == "328,353"
    assert lstm["test acc"] == f"{summaries['imdb_lstm'].test_accuracy:.4f}"
    markdown = format_table(summaries.values(), "markdown").splitlines()
    assert markdown[0].startswith("| config | model |") and len(markdown) == 4

    result = subprocess.run(
        [sys.executable, "-m", "dlcourse", "compare", str(two_runs), "--plot",
         str(tmp_path / "curves.png")], capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "imdb_simplernn" in result.stdout and "imdb_lstm" in result.stdout
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_runs_lists_status_without_importing_tensorflow(two_runs):
    code = (
        "import sys; from click.testing import CliRunner; from dlcourse.cli import main; "
        f"result = CliRunner().invoke(main, ['runs', {str(two_runs)!r}]); "
        "print(result.output); assert 'tensorflow' not in sys.modules, 'imported TF'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("finished") == 2


def test_compare_a_directory_without_runs(tmp_path):
    with pytest.raises(RunError, match="no runs were found under it"):
        collect_runs([tmp_path])
