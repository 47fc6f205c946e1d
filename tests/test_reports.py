import json
import re

import pytest

from dlcourse import reports
from dlcourse.reports import expected_against_measured
from dlcourse.rundir import RunDir



def test_expected_against_measured_reads_as_a_sentence():
    metrics = {"reference": {"metric": "best_val_accuracy", "value": 0.89,
                             "source": "the lecture", "measured": 0.884}}
    assert expected_against_measured(metrics) == (
        "best validation accuracy 0.8840 — the lecture: 0.89 (-0.0060)"
    )
    assert expected_against_measured({}) is None
    # metrics.json edited by hand: a KeyError after evaluate had written, and serve's start.
    for damaged in ({"reference": {"measured": 0.884}}, {"reference": {"measured": 0.8, "value": "x"}}):
        assert expected_against_measured(damaged) is None
    assert "reduced run (5)" in expected_against_measured({**metrics, "reduced": 5})


def test_history_csv_has_one_row_per_epoch(tmp_path):
    RunDir(tmp_path).write_history({"loss": [0.5, 0.25], "epoch_seconds": [1.0, 2.0]})
    assert (tmp_path / "history.csv").read_text().splitlines() == [
        "epoch,loss,epoch_seconds", "1,0.5,1.0", "2,0.25,2.0",
    ]
    assert json.loads((tmp_path / "history.json").read_text())["loss"] == [0.5, 0.25]


def test_report_of_an_unfinished_run_says_so(tmp_path):
    (tmp_path / "status.json").write_text('{"status": "interrupted"}')
    text = RunDir(tmp_path).refresh_report().read_text()
    assert "interrupted" in text and "did not finish" in text


@pytest.mark.slow
def test_report_holds_curves_confusion_mistakes_and_the_reference(trained):
    page = (trained["imdb_lstm"] / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # accuracy, loss, confusion matrix
    assert "Expected against measured" in page and "0.89" in page
    assert "Most confidently wrong" in page and "review (decoded from word indices)" in page
    assert "Embedding" in page and "Total params" in page  # config and model summary
    epochs = re.findall(r"<tr><td>(\d)</td>", page)
    assert epochs[:2] == ["1", "2"]


@pytest.mark.slow
def test_class_names_matplotlib_would_read_as_maths_are_drawn_as_written(tmp_path):
    """Price tiers "$$" or "$10_$20" as class names: matplotlib parsed each as maths and
    the run failed at its end, when its plots were drawn, with a traceback and no report."""
    import numpy as np

    import dlcourse

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (24, 28, 28), dtype=np.uint8), np.arange(24) % 3
    names = ["$", "$$", "$10_$20"]
    result = dlcourse.train("mnist_cnn", {"model.layers[7].Dense.units": 3, "fit.epochs": 1,
                                          "fit.validation_split": None},
                            train=(images, labels), test=(images, labels), class_names=names,
                            output_dir=tmp_path)
    assert json.loads((result.run_dir / "status.json").read_text())["status"] == "finished"
    assert (result.run_dir / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    assert [item["name"] for item in result.metrics["per_class"]] == names


def test_many_runs_compared_each_get_their_own_line_and_the_legend_leaves_them_visible():
    """Past ten runs matplotlib's colours repeated (two runs drawn alike), and the legend
    of 15 runs covered the plot's lines."""
    curves = {f"run {index}": [0.5 + index / 100, 0.6 + index / 100] for index in range(15)}
    figure = reports.curves_together_figure(curves, "val_accuracy")
    (axes,) = figure.axes
    looks = {(line.get_color(), line.get_linestyle()) for line in axes.get_lines()}
    assert len(looks) == 15
    # Runs of one epoch draw a point, no line: their markers tell them apart.
    assert len({(line.get_color(), line.get_marker()) for line in axes.get_lines()}) == 15
    figure.canvas.draw()
    legend = axes.get_legend().get_window_extent()
    assert legend.x0 >= axes.get_window_extent().x1  # beside the plot, not over it
    assert legend.x1 <= figure.bbox.x1 + 1  # and inside the figure
    few = reports.curves_together_figure(dict(list(curves.items())[:3]), "val_accuracy")
    assert few.get_size_inches()[0] == 7


def test_a_run_on_other_data_is_not_set_beside_the_published_figure():
    metrics = {"reference": {"metric": "test_accuracy", "value": 0.991, "measured": 0.3333,
                             "source": "DLwP 5.1"},
               "other_data": ["data given from Python"], "reduced": ["data.limit=60"]}
    assert expected_against_measured(metrics) == (
        "run on other data (data given from Python): test accuracy 0.3333 is not comparable "
        "with the published 0.991 (DLwP 5.1)")
