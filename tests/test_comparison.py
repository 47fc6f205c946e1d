import csv
import io
import json
import os
import subprocess
import sys

import pytest

from dlcourse.comparison import collect_runs, format_table
from dlcourse.errors import RunError

from helpers import ROOT, invoke, one_paragraph



@pytest.fixture
def two_runs(trained, tmp_path):
    runs = tmp_path / "runs"
    for name in ("imdb_simplernn", "imdb_lstm"):
        trained.copy(name, runs)
    return runs


@pytest.mark.slow
def test_compare_lists_both_runs_with_their_figures(two_runs, tmp_path):
    summaries = {summary.config: summary for summary in collect_runs([two_runs])}
    assert set(summaries) == {"imdb_simplernn", "imdb_lstm"}
    for name, summary in summaries.items():
        metrics = json.loads((summary.run_dir / "metrics.json").read_text())
        assert summary.measure == "accuracy"
        assert summary.test == metrics["test_accuracy"]
        assert summary.best_val == metrics["best_val_accuracy"]
        assert summary.parameters == metrics["parameters"] and summary.epochs == 2
    assert summaries["imdb_lstm"].model == "Embedding-LSTM-Dense"

    rows = list(csv.DictReader(io.StringIO(format_table(summaries.values(), "csv"))))
    assert {row["config"] for row in rows} == {"imdb_simplernn", "imdb_lstm"}
    lstm = next(row for row in rows if row["config"] == "imdb_lstm")
    assert lstm["parameters"] == "328353"
    assert float(lstm["test"]) == summaries["imdb_lstm"].test
    markdown = format_table(summaries.values(), "markdown").splitlines()
    assert markdown[0].startswith("| config | overrides | model |") and len(markdown) == 4

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


def test_a_finished_run_whose_model_is_gone_or_cut_short_is_listed_as_damaged(trained, tmp_path):
    """It was listed 'finished' with its old test accuracy; evaluate and predict refuse it."""
    for name in ("gone", "cut"):
        trained.copy("mnist", tmp_path / name)
    (gone,) = (tmp_path / "gone").glob("*/*")
    (cut,) = (tmp_path / "cut").glob("*/*")
    (gone / "model.keras").unlink()
    (cut / "model.keras").write_bytes((cut / "model.keras").read_bytes()[:4])
    for run, what in ((gone, "is missing"), (cut, "is not a Keras model archive")):
        (summary,) = collect_runs([run])
        assert summary.status == "damaged", run
        # Said why: `runs` listed it damaged without a word.
        assert summary.problems == (f"{run / 'model.keras'} {what}: the run finished, but "
                                    "evaluate and predict can't use it.",)
    (whole,) = collect_runs([trained["mnist"]])
    assert whole.status == "finished"


def test_compare_a_directory_without_runs(tmp_path):
    with pytest.raises(RunError, match="no runs were found under it"):
        collect_runs([tmp_path])
    # A run's config.yaml given: it was told there is no such directory.
    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(RunError, match="config.yaml: not a folder; compare takes run directories"):
        collect_runs([tmp_path / "config.yaml"])


def test_a_regression_run_is_summarised_by_its_mae(tmp_path):
    run = tmp_path / "rating" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: rating\nmodel: {layers: [{Dense: {units: 1}}]}\n")
    (run / "status.json").write_text('{"status": "finished"}')
    (run / "metrics.json").write_text('{"test_mae": 2.5, "best_epoch": 2}')
    (run / "history.json").write_text('{"loss": [9, 8, 8.5], "val_mae": [3.0, 2.25, 2.75]}')
    (summary,) = collect_runs([tmp_path / "rating"])  # a config's folder of runs
    assert (summary.measure, summary.best_val, summary.test) == ("mae", 2.25, 2.5)
    (row,) = csv.DictReader(io.StringIO(format_table([summary], "csv")))
    assert (row["measure"], row["best_val"], row["best_epoch"], row["test"]) == (
        "mae", "2.25", "2", "2.5")
    assert "MAE 2.2500 (2)" in format_table([summary], "markdown")


def test_a_classifier_that_logged_no_accuracy_is_no_regression(tmp_path):
    """compile.metrics: [AUC], or damaged files: its measure read 'mae'."""
    run = tmp_path / "auc" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: auc\nmodel: {layers: [{Dense: {units: 1}}]}\n"
                                     "compile: {loss: binary_crossentropy, optimizer: adam}\n")
    (run / "status.json").write_text('{"status": "finished"}')
    (run / "metrics.json").write_text('{"test_auc": 0.9}')
    (run / "history.json").write_text('{"loss": [0.7, 0.6], "val_auc": [0.8, 0.9]}')
    (summary,) = collect_runs([tmp_path / "auc"])
    assert (summary.measure, summary.best_val, summary.test) == ("accuracy", None, None)


def fake_run(folder, name, metrics, history, status=None):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"name: {name}\nmodel: {{layers: [{{Dense: {{units: 1}}}}]}}\n")
    (folder / "status.json").write_text(json.dumps(status or {"status": "finished"}))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "history.json").write_text(json.dumps(history))


def test_a_cell_stays_one_cell_whatever_an_override_holds(tmp_path):
    # A --set value with a newline, a `|` and markup broke the Markdown and terminal rows.
    fake_run(tmp_path / "a", "odd", {"test_accuracy": 0.5}, {"val_accuracy": [0.5]},
             {"status": "finished", "overrides": ["reference.source=a | b\nc <b>x</b> *y* `z`"]})
    (summary,) = collect_runs([tmp_path / "a"])
    markdown = format_table([summary], "markdown").splitlines()
    assert len(markdown) == 3 and markdown[2].count(" | ") == markdown[0].count(" | ")
    assert "a \\| b c &lt;b>x&lt;/b> \\*y\\* \\`z\\`" in markdown[2]
    assert len(format_table([summary]).splitlines()) == 2


def test_numbers_no_axis_can_span_are_told_not_drawn(tmp_path):
    """A val_accuracy of 1e308 printed 300 digits, and --plot was matplotlib's traceback."""
    fake_run(tmp_path / "huge", "huge", {"test_accuracy": 0.5}, {"val_accuracy": [1e308]})
    result = invoke("compare", tmp_path / "huge", "--plot", tmp_path / "curves.png")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "val_accuracy holds 1e+308, not an accuracy in [0, 1]" in result.stderr


def test_a_damaged_runs_folder_name_is_told_with_its_escapes_shown(tmp_path):
    """The table escaped the name, but the 'Damaged:' line printed it raw."""
    folder = tmp_path / "evil\x1b]0;PWNED\x07\x1b[2J"
    fake_run(folder, "odd", {"test_accuracy": 0.5}, {"val_accuracy": [0.5]})
    (folder / "config.yaml").write_text("name: [unclosed\n")
    for command in ("compare", "runs"):
        result = invoke(command, tmp_path)
        assert "Damaged: " in result.stderr and "\x1b" not in result.output, result.output
        assert "evil\\x1b]0;PWNED\\x07\\x1b[2J" in result.stderr


def test_a_run_validated_on_the_test_split_is_marked_as_such(tmp_path):
    """The MNIST slide's config validates on the test split: its best val acc was listed
    beside held-out validation as if the two measured the same thing."""
    fake_run(tmp_path / "slide", "mnist_cnn", {"test_accuracy": 0.99}, {"val_accuracy": [0.99]})
    (tmp_path / "slide" / "config.yaml").write_text(
        "name: mnist_cnn\nfit: {validation: test}\nmodel: {layers: [{Dense: {units: 1}}]}\n")
    fake_run(tmp_path / "held", "mnist_cnn", {"test_accuracy": 0.98}, {"val_accuracy": [0.98]})
    result = invoke("compare", tmp_path / "slide", tmp_path / "held")
    assert result.exit_code == 0, result.output
    slide, held = result.stdout.splitlines()[1:3]
    assert "0.9900 (1) on test" in slide and "on test" not in held
    assert result.stdout.endswith("\n'on test': validated on the test split (fit.validation: "
                                  "test, as the slide does): its best val figure is the test "
                                  "split's best of any epoch, optimistic beside validation on "
                                  "held-out training data.\n")
    rows = list(csv.DictReader(io.StringIO(invoke("compare", tmp_path / "slide", tmp_path / "held",
                                                  "--format", "csv").stdout)))
    assert [row["validated_on"] for row in rows] == ["test", "held-out"]
    fake_run(tmp_path / "none", "mnist_cnn", {"test_accuracy": 0.98}, {"accuracy": [0.98]})
    (row,) = csv.DictReader(io.StringIO(invoke("compare", tmp_path / "none", "--format",
                                               "csv").stdout))
    assert row["validated_on"] == ""  # no validation at all
    assert "on test" not in invoke("compare", tmp_path / "held").stdout


def test_a_run_reduced_in_its_own_file_is_listed_as_reduced(tmp_path):
    """A copy of a config with data.limit and fewer epochs in the file itself changed
    nothing on the command line, and was listed as a full run beside the others."""
    fake_run(tmp_path / "mine", "imdb_lstm", {
        "test_accuracy": 0.7, "reduced": ["data.limit=2000", "fit.epochs=2 (the config says 10)"]},
        {"val_accuracy": [0.6, 0.7]})
    fake_run(tmp_path / "set", "imdb_lstm", {"test_accuracy": 0.7, "reduced": ["--smoke (...)"]},
             {"val_accuracy": [0.7]}, {"status": "finished", "overrides": ["--smoke"]})
    mine, given = collect_runs([tmp_path / "mine", tmp_path / "set"])
    assert mine.overrides == ("reduced:", "data.limit=2000", "fit.epochs=2")
    assert mine.label == "imdb_lstm (reduced: data.limit=2000 fit.epochs=2)"
    assert given.overrides == ("--smoke",)  # what the command line said, as before
    fake_run(tmp_path / "both", "imdb_lstm", {"reduced": ["data.limit=2000", "fit.epochs=1"]},
             {"val_accuracy": [0.7]}, {"status": "finished",
                                        "overrides": ["fit.batch_size=32", "fit.epochs=1"]})
    (both,) = collect_runs([tmp_path / "both"])  # an override hid the file's reduction
    assert both.overrides == ("fit.batch_size=32", "fit.epochs=1", "reduced:", "data.limit=2000")
    assert "reduced: data.limit=2000 fit.epochs=2" in format_table([mine], "markdown")
    # Arrays from Python are in no --set item: listed as a run of the config's own data.
    fake_run(tmp_path / "arrays", "mnist_cnn", {"other_data": ["data given from Python"]},
             {"val_accuracy": [0.7]})
    fake_run(tmp_path / "csv", "imdb_bow_bigrams", {"other_data": ["data.train=tr.csv"]},
             {"val_accuracy": [0.7]}, {"status": "finished", "overrides": ["data.train=tr.csv"]})
    arrays, csv = collect_runs([tmp_path / "arrays", tmp_path / "csv"])
    assert arrays.overrides == ("other data: from Python",)
    assert csv.overrides == ("data.train=tr.csv",)  # said by its --set item already


def test_a_run_said_running_that_no_process_holds_is_listed_as_killed(tmp_path):
    """A SIGKILL leaves status.json saying running for ever; runs and compare said so too."""
    import platform

    from dlcourse.rundir import RunDir

    here = {"status": "running", "host": platform.node()}
    fake_run(tmp_path / "killed", "a", {}, {"val_accuracy": [0.5]}, here)
    fake_run(tmp_path / "alive", "b", {}, {"val_accuracy": [0.5]}, here)
    fake_run(tmp_path / "elsewhere", "c", {}, {"val_accuracy": [0.5]},
             {"status": "running", "host": "another-machine"})
    # A lock that can't be asked keeps status.json's word: a pipe in its place hung.
    fake_run(tmp_path / "piped", "d", {}, {"val_accuracy": [0.5]}, here)
    os.mkfifo(tmp_path / "piped" / ".lock")
    fake_run(tmp_path / "folder", "e", {}, {"val_accuracy": [0.5]}, here)
    (tmp_path / "folder" / ".lock").mkdir()
    with RunDir(tmp_path / "alive").training_lock():
        statuses = {s.run_dir.name: s.status for s in collect_runs([tmp_path])}
    assert statuses == {"killed": "killed", "alive": "running", "elsewhere": "running",
                        "piped": "running", "folder": "running"}


def test_a_run_folder_named_in_bytes_that_are_no_utf8_is_plotted(tmp_path):
    # Two runs of one name are labelled by folder: matplotlib raised a TypeError on r\udcff.
    for folder in (os.fsdecode(b"r\xff"), "ok"):
        fake_run(tmp_path / folder, "same", {"test_accuracy": 0.5}, {"val_accuracy": [0.4, 0.5]})
    result = invoke("compare", tmp_path, "--plot", tmp_path / "curves.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_a_cell_shows_a_terminal_escape_or_a_direction_control_escaped(tmp_path):
    # A run someone sent can carry, in an override's value, a sequence that clears the
    # screen and retitles the window, or a right-to-left override that reorders the row.
    fake_run(tmp_path / "a", "odd\u202e", {"test_accuracy": 0.5}, {"val_accuracy": [0.5]},
             {"status": "finished", "overrides": ["reference.source=\x1b]0;owned\x07\x1b[2J"]})
    (summary,) = collect_runs([tmp_path / "a"])
    terminal, markdown, csv = (format_table([summary], style) for style in ("terminal", "markdown", "csv"))
    for table in (terminal, markdown, csv):
        assert "\x1b" not in table and "\x07" not in table and "\u202e" not in table
    assert r"\x1b]0;owned\x07\x1b[2J" in terminal and r"odd\u202e" in terminal
    assert r"odd\\u202e" in markdown  # Markdown's own escape of the backslash


def test_the_plot_draws_mae_when_no_run_has_an_accuracy_curve_and_names_what_it_left(tmp_path):
    fake_run(tmp_path / "rating", "rating", {"test_mae": 2.5}, {"val_mae": [3.0, 2.25]})
    fake_run(tmp_path / "images", "images", {"test_accuracy": 0.9}, {"accuracy": [0.8, 0.9]})
    result = invoke("compare", tmp_path, "--plot", tmp_path / "curves.png")
    assert result.exit_code == 0 and "No run has a validation curve" not in result.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    fake_run(tmp_path / "digits", "digits", {"test_accuracy": 0.9}, {"val_accuracy": [0.8, 0.9]})
    result = invoke("compare", tmp_path, "--plot", tmp_path / "curves.png")
    (line,) = [line for line in result.output.splitlines() if line.startswith("Not drawn: ")]
    assert "rating (another measure)" in line and "images (no validation curve)" in line


def test_a_run_whose_best_epoch_was_restored_says_which_epoch_its_test_figure_is(tmp_path):
    run = tmp_path / "fasttext" / "20260101-000000"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: fasttext\nmodel: {layers: [{Dense: {units: 1}}]}\n")
    (run / "status.json").write_text('{"status": "finished"}')
    (run / "metrics.json").write_text('{"test_accuracy": 0.9, "best_epoch": 2, '
                                      '"restored_epoch": 2}')
    (run / "history.json").write_text('{"loss": [0.6, 0.4, 0.3], "val_accuracy": [0.8, 0.9, 0.85]}')
    (summary,) = collect_runs([run])
    assert summary.saved_epoch == 2
    assert "| 0.9000 (epoch 2) |" in format_table([summary], "markdown")


@pytest.mark.slow
def test_compare_shows_overrides_and_writes_a_plot_only_when_asked(trained, tmp_path):
    import dlcourse

    runs = tmp_path / "runs"
    trained.copy("imdb_lstm", runs)
    dlcourse.train(ROOT / "configs" / "imdb_lstm.yaml",
                   {"data.limit": 24, "fit.epochs": 1, "execution.speedups": "off"},
                   data_dir=trained.data_dir, output_dir=runs / "nested" / "deeper")
    summaries = collect_runs([runs])  # the second run sits three levels down
    assert len(summaries) == 2
    labels = {summary.label for summary in summaries}
    assert "imdb_lstm (data.limit=24 fit.epochs=1 execution.speedups='off')" in labels
    rows = list(csv.DictReader(io.StringIO(format_table(summaries, "csv"))))
    for row in rows:  # plain numbers a spreadsheet reads
        float(row["test"]), float(row["best_val"]), int(row["parameters"]), int(row["best_epoch"])
        assert row["measure"] == "accuracy"
    result = subprocess.run([sys.executable, "-m", "dlcourse", "compare", str(runs)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0 and not list(tmp_path.glob("*.png"))  # nothing unasked
    drawn = subprocess.run([sys.executable, "-m", "dlcourse", "compare", str(runs), "--plot",
                            str(tmp_path / "curves")], capture_output=True, text=True)
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "curves").read_bytes().startswith(b"\x89PNG")  # no suffix: PNG
    blocked = subprocess.run([sys.executable, "-m", "dlcourse", "compare", str(runs), "--plot",
                              str(tmp_path / "curves" / "inside.png")], capture_output=True, text=True)
    assert blocked.returncode == 2 and "can't write the plot there" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    # An earlier plot is replaced; a run's own plot, or a file that is no plot, is not.
    assert invoke("compare", runs, "--plot", tmp_path / "curves").exit_code == 0
    (run_dir,) = (runs / "imdb_lstm").iterdir()
    (tmp_path / "notes").write_text("my notes")
    accuracy = (run_dir / "accuracy.png").read_bytes()
    from PIL import Image  # a photo: a PNG, but no plot of Matplotlib's

    Image.new("RGB", (4, 4), "red").save(tmp_path / "cat.png")
    photo = (tmp_path / "cat.png").read_bytes()
    # A tuning's scores.png, or any figure Matplotlib drew, is no comparison either.
    import matplotlib.pyplot

    figure = matplotlib.pyplot.figure()
    figure.savefig(tmp_path / "scores.png")
    matplotlib.pyplot.close(figure)
    scores = (tmp_path / "scores.png").read_bytes()
    os.mkfifo(tmp_path / "pipe.png")  # as /dev/null, which was replaced by a PNG
    for target, says in ((run_dir / "accuracy.png", "inside the run directory"),
                         (tmp_path / "cat.png", "PNG image exists and is not a plot `compare` drew"),
                         (tmp_path / "scores.png", "is not a plot `compare` drew"),
                         (tmp_path / "pipe.png", "that exists and is not a file (a device"),
                         (run_dir / "more" / "curves.png", "inside the run directory"),
                         (tmp_path / "notes", "exists and is not a PNG image"),
                         (runs, "that is a folder; give the plot a file name in it")):
        refused = invoke("compare", runs, "--plot", target)
        assert one_paragraph(refused) and says in refused.output, refused.output
        assert refused.stdout == ""  # checked before the table: nothing printed, then refused
    assert (run_dir / "accuracy.png").read_bytes() == accuracy
    assert (tmp_path / "notes").read_text() == "my notes" and not (run_dir / "more").exists()
    assert (tmp_path / "cat.png").read_bytes() == photo
    assert (tmp_path / "scores.png").read_bytes() == scores
    assert not (tmp_path / "pipe.png").is_file()


def test_each_curve_of_the_plot_is_told_apart(tmp_path):
    """Two copies of one run in folders a/ and b/ had the same label and folder name: the
    plot drew one curve, and dropped the other without a word."""
    from types import SimpleNamespace

    from dlcourse.comparison import _curve_labels

    runs = [SimpleNamespace(label="mnist_cnn", run_dir=tmp_path / folder / name)
            for folder, name in (("a", "20261207-1"), ("b", "20261207-1"), ("a", "20261207-2"))]
    runs.append(SimpleNamespace(label="imdb_lstm", run_dir=tmp_path / "c" / "20261207-1"))
    labels = _curve_labels(runs)
    assert len(set(labels)) == 4
    assert labels[1] == f"mnist_cnn {tmp_path / 'b' / '20261207-1'}"
    assert labels[2:] == ["mnist_cnn 20261207-2", "imdb_lstm"]


@pytest.mark.slow
def test_a_run_given_twice_is_listed_once(two_runs):
    (lstm,) = (two_runs / "imdb_lstm").iterdir()
    # The folder, the run in it, and the run again with a trailing slash: three were listed.
    summaries = collect_runs([two_runs, lstm, f"{lstm}/"])
    assert sorted(summary.config for summary in summaries) == ["imdb_lstm", "imdb_simplernn"]


def test_a_tuning_directory_is_said_to_hold_trials_not_runs(tmp_path):
    tune_dir = tmp_path / "imdb_lstm_tune-tune" / "20261208-040000"
    tune_dir.mkdir(parents=True)
    for name in ("tuning.json", "search_config.yaml"):
        (tune_dir / name).write_text("{}")
    result = invoke("runs", tune_dir)
    assert result.exit_code == 2 and one_paragraph(result), result.output
    assert "a tuning directory, whose trials are no runs: its trials.md ranks them" in result.output
