"""End to end through the command line, as a user runs it."""

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import dlcourse
from dlcourse.cli import main

from helpers import (
    CONFIGS, REAL_DATA_DIR, ROOT, dlcourse_command, invoke, one_paragraph, real_data_for,
    run_dlcourse, train_until_first_epoch_then_ctrl_c, without_tensorflow,
)

RUN_FILES = {
    "config.yaml", "model.keras", "history.json", "history.csv", "metrics.json",
    "status.json", "summary.txt", "loss.png", "report.html",
}
CLASSIFICATION_FILES = {"accuracy.png", "confusion_matrix.png", "misclassified.json", "classes.json"}
REGRESSION_FILES = {"mae.png", "largest_errors.json"}
def check_smoke_run_then_evaluate(run_dir, output, data_dir):
    assert f"Run written to {run_dir}" in output
    # Said of every config: one without a published figure printed only its metrics.
    assert "reduced run (--smoke (256 examples, 1 epoch))" in output
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    regression = saved["compile"]["loss"] in ("mean_squared_error", "mean_absolute_error")
    measure = "mae" if regression else "accuracy"
    written = {path.name for path in run_dir.iterdir()}
    assert RUN_FILES | (REGRESSION_FILES if regression else CLASSIFICATION_FILES) <= written
    assert "backup" not in written and not any(name.startswith(".partial") for name in written)
    if saved["data"]["dataset"] == "raw_text":
        assert "vocabulary.json" in written

    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert saved["fit"]["epochs"] == 1 and saved["data"]["limit"] == 256
    assert set(history) >= {"loss", measure, "val_loss", f"val_{measure}", "epoch_seconds"}
    assert len(history["loss"]) == 1
    assert (run_dir / "history.csv").read_text().splitlines()[0].startswith("epoch,")
    assert metrics["parameters"] > 0 and metrics[f"test_{measure}"] >= 0
    if regression:
        assert "confusion_matrix" not in metrics and "best_val_accuracy" not in metrics
        assert metrics["best_val_mae"] >= 0 and metrics["baseline_test_mae"] > 0
    else:
        assert metrics["test_accuracy"] <= 1
    assert "Total params" in (run_dir / "summary.txt").read_text()
    assert (run_dir / f"{measure}.png").read_bytes().startswith(b"\x89PNG")

    evaluated = invoke("evaluate", run_dir, "--data-dir", data_dir)
    assert evaluated.exit_code == 0, evaluated.output
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert abs(evaluation[f"test_{measure}"] - metrics[f"test_{measure}"]) <= 0.001
    if data_dir == REAL_DATA_DIR:
        # Recorded absolute and through links (CI's ../shared is a link to the data).
        assert Path(metrics["data_source"]).is_relative_to(Path(REAL_DATA_DIR).resolve())
        assert metrics["test_samples"] == 256


def explainable(config) -> bool:
    """Whether the NumPy reference implements every layer of a shipped config. Those it
    doesn't (BatchNormalization, Bidirectional, Conv1D) are refused by name, as
    test_explanation.py checks."""
    from dlcourse.config import load_search_config
    from dlcourse.explanation import REFERENCE_LAYERS

    layers = load_search_config(config).config.model.layers
    return all(layer.name in REFERENCE_LAYERS for layer in layers)


def check_the_reference_recomputes_it(run_dir, data_dir):
    """`explain`: the run's model recomputed in NumPy, layer by layer, to 1e-4."""
    import keras

    from dlcourse.explanation import explain_run

    model = keras.models.load_model(run_dir / "model.keras")
    explanation = explain_run(run_dir, samples=4, data_dir=data_dir)
    assert explanation.samples == 4
    assert explanation.max_abs_difference <= 1e-4
    assert [layer.name for layer in explanation.layers] == [layer.name for layer in model.layers]
    # A masked model is explained one sequence at a time without its padding, so a time
    # axis has no one length.
    masked = model.layers[0].get_config().get("mask_zero", False)
    for layer, keras_layer in zip(explanation.layers, model.layers):
        assert layer.max_abs_difference <= 1e-4
        shape = tuple(keras_layer.output.shape[1:])
        if masked and len(shape) == 2:
            shape = (None, shape[1])
        assert layer.output_shape == shape
    if any(type(layer).__name__ == "Conv2D" for layer in model.layers):
        assert explanation.feature_maps == run_dir / "feature_maps.png"
        assert explanation.feature_maps.read_bytes().startswith(b"\x89PNG")
    else:
        assert explanation.feature_maps is None


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_smoke_train_evaluate_and_explain_each_shipped_config(config, data_dir, smoke_runs):
    # A tunable config is trained through the best config its `tune --smoke` writes.
    source = real_data_for(config) or data_dir
    run_dir, output = smoke_runs.run(config, source)
    check_smoke_run_then_evaluate(run_dir, output, source)
    if explainable(config):
        check_the_reference_recomputes_it(run_dir, source)


@pytest.mark.slow
def test_evaluate_without_run_dir_uses_the_latest_run(data_dir, trained, tmp_path):
    run_dir = trained.copy("mnist", tmp_path / "runs")
    result = invoke("evaluate", "--data-dir", data_dir)
    assert result.exit_code == 0
    assert result.stderr == (f"Evaluating the most recent run: {run_dir.relative_to(tmp_path)}"
                             " on its test split ...\n")


@pytest.mark.slow
def test_summary_prints_layers_and_parameters_without_any_data(tmp_path):
    # No --data-dir and no data anywhere: MNIST's shapes are known from the config.
    result = invoke("summary", ROOT / "configs" / "mnist_cnn.yaml")
    assert result.exit_code == 0, result.output
    assert "conv2d" in result.output.lower() and "93,322" in result.output
    lstm = invoke("summary", ROOT / "configs" / "imdb_lstm.yaml")
    assert "(None, 500, 32)" in lstm.output and "328,353" in lstm.output  # the slide's shapes
    assert "Execution: No speed-ups: only recurrent models gain" in result.output


@pytest.mark.slow
def test_a_layer_its_input_does_not_fit_is_told_with_the_config_file(tmp_path):
    """validate can't see shapes; summary, train and lr-find build the model and said
    Keras's reason with its noise ("Input 0 with name 'None' of layer 'conv2d' is
    incompatible with the layer"), but not which file."""
    raw = yaml.safe_load((ROOT / "configs" / "imdb_simplernn.yaml").read_text())
    raw["model"]["layers"][1] = {"Conv2D": {"filters": 4, "kernel_size": 3}}
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = invoke("summary", config)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith(
        f"Error: {config}: model.layers[1].Conv2D can't take its input: expected min_ndim=4, "
        "found ndim=3."), result.output
    assert "Input 0" not in result.output


@pytest.mark.slow
def test_a_layer_an_earlier_override_left_too_small_an_input_names_the_override():
    """A wider pool at layer 1 leaves layer 4's Conv2D a 2x2 input: the shipped file alone
    was blamed."""
    result = invoke("summary", ROOT / "configs" / "mnist_cnn.yaml", "--set",
                    "model.layers[1].MaxPooling2D.pool_size=[4, 4]", "--set", "fit.epochs=1")
    assert result.exit_code == 2 and "model.layers[4].Conv2D can't take its input" in result.output
    assert result.output.rstrip().endswith(
        "(from --set model.layers[1].MaxPooling2D.pool_size=[4, 4]).")  # not fit.epochs


@pytest.mark.slow
def test_summary_names_the_speedups_of_a_recurrent_model(data_dir):
    lstm = ROOT / "configs" / "imdb_lstm.yaml"
    result = invoke("summary", ROOT / "configs" / "imdb_text_lstm.yaml", "--data-dir", data_dir)
    assert "Execution: XLA" not in result.output and result.exit_code == 0
    result = invoke("summary", lstm, "--data-dir", data_dir, "--set", "data.limit=96")
    assert "Execution: Length-bucketed batches and XLA: the recurrent layer skips most of " \
        "the padding" in result.output  # planned for the full data, which summary doesn't read
    exact = invoke("summary", lstm, "--data-dir", data_dir, "--set", "execution.speedups=off")
    assert "Execution: No speed-ups: execution.speedups: off, the lecture's exact" in exact.output


def test_version_and_help():
    assert invoke("--version").output.strip() == f"dlcourse, version {dlcourse.__version__}"
    for command in ("train", "tune", "evaluate", "validate", "summary"):
        assert "Usage:" in invoke(command, "--help").output


def test_validate_accepts_a_good_config():
    result = run_dlcourse("validate", ROOT / "configs" / "imdb_lstm.yaml")
    assert result.returncode == 0 and "valid" in result.stdout


def test_bad_config_exits_2_with_a_path_and_no_traceback(tmp_path):
    config = yaml.safe_load((ROOT / "configs" / "imdb_lstm.yaml").read_text())
    config["model"]["layers"][1]["LSTM"]["units"] = "abc"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    for command in ("validate", "train"):
        result = run_dlcourse(command, path)
        assert result.returncode == 2
        assert "model.layers[1].LSTM.units: expected an integer, got 'abc'" in result.stderr
        assert "Traceback" not in result.stderr


def test_unknown_override_exits_2(tmp_path):
    result = run_dlcourse("validate", ROOT / "configs" / "imdb_lstm.yaml", "--set", "fit.epoch=1")
    assert result.returncode == 2 and "'fit.epoch' does not exist" in result.stderr


@pytest.mark.slow
def test_missing_dataset_offline_exits_2_with_where_it_looked(tmp_path):
    # A misspelt folder is named as such: it was searched, then Keras's cache and download.
    misspelt = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", tmp_path / "dta")
    assert misspelt.exit_code == 2 and f"{tmp_path / 'dta'}: no such folder" in misspelt.output
    (tmp_path / "nothing").mkdir()
    result = run_dlcourse(
        "train", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", tmp_path / "nothing",
    )
    assert result.returncode == 2, result.stderr
    assert "Can't find mnist.npz" in result.stderr and str(tmp_path / "nothing") in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()
    # Told before TensorFlow's seconds-long start, for a file as for an own-data folder.
    without_tensorflow([
        (["train", ROOT / "configs" / name, "--data-dir", tmp_path / "nothing",
          "--output-dir", tmp_path / "runs"], 2, missing)
        for name, missing in (("imdb_lstm.yaml", "Can't find imdb.npz"),
                              ("image_folder_example.yaml", "No image folder matches"))
    ] + [
        ([command, ROOT / "configs" / name, "--data-dir", tmp_path / "nothing"], 2, missing)
        for command, name, missing in (("tune", "imdb_lstm_tune.yaml", "Can't find imdb.npz"),
                                       ("lr-find", "mnist_cnn.yaml", "Can't find mnist.npz"),
                                       ("summary", "image_folder_example.yaml",
                                        "No image folder matches"))
    ])
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_model_that_does_not_fit_the_data_exits_2(data_dir, tmp_path):
    # In this process: an exception the CLI doesn't turn into its paragraph fails the test.
    result = invoke(
        "train", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", data_dir,
        "--set", "model.layers[7].Dense.units=64",
    )
    assert one_paragraph(result) and "gives 64 outputs" in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


def test_evaluate_a_directory_that_is_not_a_run(tmp_path):
    result = run_dlcourse("evaluate", tmp_path)
    assert result.returncode == 2 and "not a dlcourse run directory" in result.stderr
    assert result.stderr.startswith("Error: ")  # the mistake alone, not "Evaluating ..."


@pytest.mark.slow
def test_ctrl_c_marks_the_run_interrupted_and_keeps_its_history(data_dir, tmp_path):
    command, environment = dlcourse_command(
        "train", ROOT / "configs" / "mnist_cnn.yaml",
        "--data-dir", data_dir, "--set", "fit.epochs=500", "--set", "data.limit=32",
    )
    stderr = train_until_first_epoch_then_ctrl_c(command, environment, tmp_path / "runs")
    (run_dir,) = tmp_path.glob("runs/mnist_cnn/*")
    status = json.loads((run_dir / "status.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert status["status"] == "interrupted"
    assert 1 <= status["epochs_completed"] == len(history["loss"]) < 500
    assert "Traceback" not in stderr
    assert f"Interrupted. The run so far is in {run_dir.relative_to(tmp_path)}; continue it " \
        f"with `dlcourse train --resume {run_dir.relative_to(tmp_path)}`." in stderr


@pytest.mark.slow
def test_sigterm_marks_the_run_interrupted_as_ctrl_c_does(data_dir, tmp_path, monkeypatch):
    """`kill`, `timeout` and batch schedulers send SIGTERM: it ended the process at once,
    and the run's status.json said "running" for ever. So did a Ctrl-C pressed while the
    interrupted run wrote how it ended."""
    import os
    import signal

    from dlcourse.callbacks import EpochRecorder
    from dlcourse.rundir import RunDir

    ended, write_history = EpochRecorder.on_epoch_end, RunDir.write_history
    terminated = []

    def then_terminated(self, epoch, logs=None):
        ended(self, epoch, logs)
        terminated.append(epoch)
        os.kill(os.getpid(), signal.SIGTERM)

    def ctrl_c_once_terminated(self, history):
        if terminated:
            os.kill(os.getpid(), signal.SIGINT)
        write_history(self, history)

    monkeypatch.setattr(EpochRecorder, "on_epoch_end", then_terminated)
    monkeypatch.setattr(RunDir, "write_history", ctrl_c_once_terminated)
    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(main, [
        "train", str(ROOT / "configs" / "mnist_cnn.yaml"), "--data-dir", str(data_dir),
        "--set", "fit.epochs=5", "--set", "data.limit=32", "--output-dir", str(tmp_path)])
    assert result.exit_code == 143, result.output
    (run_dir,) = tmp_path.glob("mnist_cnn/*")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "interrupted" and status["epochs_completed"] == 1
    assert f"Terminated (SIGTERM). The run so far is in {run_dir}; continue it with " \
        f"`dlcourse train --resume {run_dir}`." in result.output
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back


def test_sigterm_goes_where_ctrl_c_goes_and_only_once():
    """A search defers Ctrl-C to the epoch's end (an interrupt inside TensorFlow's
    iterator came out as a failed trial), so SIGTERM takes Ctrl-C's handler of the moment;
    `timeout` signals the process and its group, and the second is not a second interrupt.
    One a second later is: the first may have been swallowed."""
    import os
    import signal
    import time

    from dlcourse.cli import _sigterm_as_ctrl_c

    calls, terminated = [], []
    ctrl_c = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with _sigterm_as_ctrl_c(terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            assert calls == [signal.SIGINT] and len(terminated) == 1
            time.sleep(1.1)
            os.kill(os.getpid(), signal.SIGTERM)
    finally:
        signal.signal(signal.SIGINT, ctrl_c)
    assert calls == [signal.SIGINT, signal.SIGINT] and len(terminated) == 2


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_ctrl_c_or_sigterm_python_swallowed_still_ends_a_command_as_interrupted(
        signum, monkeypatch):
    """Python drops a KeyboardInterrupt raised in a garbage collector's callback: an export
    heard Ctrl-C there, and SIGTERM, ran on to its end and exited 0."""
    import signal

    import dlcourse.api

    validate = dlcourse.api.validate

    def swallowing(*args, **kwargs):
        try:  # the handler runs here, and the interrupt goes no further
            signal.raise_signal(getattr(signal, signum))
        except KeyboardInterrupt:
            pass
        return validate(*args, **kwargs)

    monkeypatch.setattr(dlcourse.api, "validate", swallowing)
    # pytest-xdist's workers ignore SIGINT; a terminal's Python raises KeyboardInterrupt.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = invoke("validate", ROOT / "configs" / "mnist_cnn.yaml")
    finally:
        signal.signal(signal.SIGINT, before)
    assert ": valid (mnist, 8 layers)" in result.output  # it ran to its end
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        (130, "Interrupted.") if signum == "SIGINT" else (143, "Terminated (SIGTERM)."))


@pytest.mark.robustness("damaged models")
@pytest.mark.slow
def test_evaluate_refuses_a_model_holding_python_code(data_dir, tmp_path):
    import keras

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text((ROOT / "configs" / "mnist_cnn.yaml").read_text())
    (run_dir / "status.json").write_text('{"status": "finished"}')
    # What a tampered or foreign model.keras could hold: a function to run when loaded.
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2)])
    model.save(run_dir / "model.keras")
    result = run_dlcourse("evaluate", run_dir, "--data-dir", data_dir)
    assert result.returncode == 2, result.stderr
    assert "refused to load this model" in result.stderr
    assert "safe mode" in result.stderr and "arbitrary code" in result.stderr
    assert "Lambda" in result.stderr and "Traceback" not in result.stderr
    assert not (run_dir / "evaluation.json").exists()


@pytest.mark.slow
def test_unwritable_output_dir_exits_2_before_any_epoch(data_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("runs can't go under a regular file")
    result = run_dlcourse(
        "train", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", data_dir,
        "--output-dir", blocker / "runs", "--set", "data.limit=16",
    )
    assert result.returncode == 2, result.stderr
    assert f"Can't write runs to {blocker / 'runs' / 'mnist_cnn'}" in result.stderr
    assert "Traceback" not in result.stderr
    output = result.stdout + result.stderr
    assert "Epoch 1/" not in output and "loss:" not in output  # what Keras prints per epoch


def test_validate_never_imports_tensorflow():
    without_tensorflow([(["validate", path], 0, "valid") for path in CONFIGS])


def test_validate_says_what_the_model_cant_take_where_the_config_fixes_the_data():
    """validate said 'valid'; summary and train refused, a TensorFlow start later."""
    lstm, cnn = ROOT / "configs" / "imdb_lstm.yaml", ROOT / "configs" / "mnist_cnn.yaml"
    without_tensorflow([
        (["validate", lstm, "--set", "model.layers[0].Embedding.input_dim=5000"], 2,
         f"Error: {lstm}: model.layers[0].Embedding.input_dim is 5000, but data.num_words is "
         "10000"),
        (["validate", cnn, "--set", "model.layers[7].Dense.units=3"], 2,
         f"Error: {cnn}: The last layer (model.layers[7].Dense) gives 3 outputs, but "
         "categorical_crossentropy on mnist, with 10 classes, needs 10: set its units to 10 "
         "(from --set model.layers[7].Dense.units=3)."),  # not the shipped file's mistake
        # Counted from the end, the override is still the one named.
        (["validate", cnn, "--set", "model.layers[-1].Dense.units=3"], 2,
         "needs 10: set its units to 10 (from --set model.layers[-1].Dense.units=3)."),
    ])


@pytest.mark.slow
def test_a_first_epoch_that_compiles_says_so_beforehand(data_dir, tmp_path):
    result = invoke("train", ROOT / "configs" / "imdb_simplernn.yaml", "--data-dir", data_dir,
                    "--set", "data.limit=32", "--set", "fit.epochs=1",
                    "--set", "execution.jit_compile=true", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    notice = result.output.index("XLA compiles this run's")
    assert notice < result.output.index("loss:")  # before the first epoch's line
    assert "on this machine the first time" in result.output
    quiet = invoke("train", ROOT / "configs" / "imdb_simplernn.yaml", "--data-dir", data_dir,
                   "--smoke", "--output-dir", tmp_path / "quiet")
    assert "XLA compiles" not in quiet.output  # a smoke run doesn't compile


@pytest.mark.slow
def test_a_smoke_run_says_it_is_reduced_and_never_prints_a_bare_gap(data_dir, tmp_path):
    result = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--smoke", "--data-dir",
                    data_dir, "--output-dir", tmp_path, "--set", "data.limit=16")
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "mnist_cnn").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["reduced"] == ["--smoke (256 examples, 1 epoch)"]
    line = next(line for line in result.output.splitlines() if "expected against measured" in line)
    assert "reduced run (--smoke" in line and "not comparable with the published 0.991" in line
    assert "(-0." not in line and "(+0." not in line
    page = (run_dir / "report.html").read_text()
    assert "A reduced run" in page and "not comparable" in page
    status = json.loads((run_dir / "status.json").read_text())
    assert status["overrides"] == ["--smoke", "data.limit=16"]


@pytest.mark.slow
def test_tensorboard_logs_are_a_flag_of_train(data_dir, tmp_path):
    result = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--smoke", "--tensorboard",
                    "--data-dir", data_dir, "--output-dir", tmp_path, "--set", "data.limit=16",
                    "--set", "execution.speedups=off")
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "mnist_cnn").iterdir()
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    # The overrides as typed, which runs and compare show: `off` was recorded as `false`.
    status = json.loads((run_dir / "status.json").read_text())
    assert status["overrides"] == ["--smoke", "data.limit=16", "execution.speedups=off",
                                   "output.tensorboard=true"]


@pytest.mark.slow
def test_a_run_remembers_its_data_for_every_later_command(data_dir, tmp_path, monkeypatch):
    # Trained with --data-dir, then used from another directory with no --data-dir and no
    # DLCOURSE_DATA_DIR: evaluate, explain, predict and resume find the data again.
    runs = tmp_path / "runs"
    trained = invoke("train", ROOT / "configs" / "imdb_lstm.yaml", "--data-dir", data_dir,
                     "--output-dir", runs, "--set", "data.limit=24", "--set", "fit.epochs=1")
    assert trained.exit_code == 0, trained.output
    (run_dir,) = (runs / "imdb_lstm").iterdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for command in (["evaluate", run_dir], ["explain", run_dir, "--samples", 2],
                    ["predict", run_dir, "a good film"]):
        result = invoke(*command)
        assert result.exit_code == 0, (command, result.output)
    # `train RUN_DIR/config.yaml` repeats the run, on the same data.
    repeated = invoke("train", run_dir / "config.yaml", "--output-dir", tmp_path / "again")
    assert repeated.exit_code == 0, repeated.output
    (repeat_dir,) = (tmp_path / "again" / "imdb_lstm").iterdir()
    assert (json.loads((repeat_dir / "data.json").read_text())
            == json.loads((run_dir / "data.json").read_text()))
    (run_dir / "status.json").write_text(json.dumps({
        **json.loads((run_dir / "status.json").read_text()), "status": "interrupted"}))
    (run_dir / "model.keras").unlink()
    resumed = invoke("train", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.output

    # The recorded data gone: the error names where it was.
    moved = tmp_path / "moved"
    data_dir_copy = tmp_path / "data-copy"
    import shutil

    shutil.copytree(data_dir, data_dir_copy, symlinks=True)
    trained = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", data_dir_copy,
                     "--output-dir", runs, "--set", "data.limit=16", "--set", "fit.epochs=1")
    (mnist_run,) = (runs / "mnist_cnn").iterdir()
    data_dir_copy.rename(moved)
    result = run_dlcourse("evaluate", mnist_run)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"was trained on {data_dir_copy / 'mnist.npz'}, which is no longer there" in result.stderr
    repeated = run_dlcourse("train", mnist_run / "config.yaml")  # offline, as tests are
    assert repeated.returncode == 2 and "Traceback" not in repeated.stderr
    assert "Can't find mnist.npz" in repeated.stderr
    assert invoke("evaluate", mnist_run, "--data-dir", moved).exit_code == 0


@pytest.mark.slow
def test_resuming_with_a_data_record_of_the_older_kind_takes_the_same_folder(tmp_path):
    """Records before 2026-12-06 fingerprinted a whole folder, a README included: resuming
    with --data-dir of that very folder was refused as other data."""
    from dlcourse.data.files import fingerprint
    from helpers import write_image_folder

    folder = write_image_folder(tmp_path / "data" / "pics", classes=2, per_class=5, size=8)
    (folder / "README.txt").write_text("my photos")
    config = tmp_path / "pics.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"dataset": "image_folder", "path": "pics", "image_size": [8, 8]},
        "model": {"layers": ["Flatten", {"Dense": {"units": 2, "activation": "softmax"}}]},
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                    "metrics": ["accuracy"]},
        "fit": {"epochs": 1, "batch_size": 4}, "output": {"plots": False}}))
    trained = invoke("train", config, "--data-dir", tmp_path / "data", "--output-dir",
                     tmp_path / "runs")
    assert trained.exit_code == 0, trained.output
    (run_dir,) = (tmp_path / "runs" / "pics").iterdir()
    record = json.loads((run_dir / "data.json").read_text())
    assert record["files"][str(folder)] != fingerprint(folder)  # the README is not read
    record["files"][str(folder)] = fingerprint(folder)  # as an older dlcourse wrote it
    (run_dir / "data.json").write_text(json.dumps(record))
    (run_dir / "status.json").write_text(json.dumps({
        **json.loads((run_dir / "status.json").read_text()), "status": "interrupted"}))
    result = invoke("train", "--resume", run_dir, "--data-dir", tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert "Note" not in result.output and "differs" not in result.output


@pytest.mark.slow
def test_resuming_on_other_data_is_refused_and_on_moved_data_recorded(tmp_path):
    import shutil

    from helpers import write_mnist

    first, moved, other = (tmp_path / name for name in ("first", "moved", "other"))
    for folder in (first, other):
        folder.mkdir()
    write_mnist(first, train=64, test=16)
    write_mnist(other, train=80, test=16, seed=1)  # other examples: another size
    runs = tmp_path / "runs"
    trained = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", first,
                     "--output-dir", runs, "--set", "fit.epochs=1")
    assert trained.exit_code == 0, trained.output
    (run_dir,) = (runs / "mnist_cnn").iterdir()

    def resumed_on(data):
        (run_dir / "status.json").write_text(json.dumps({
            **json.loads((run_dir / "status.json").read_text()), "status": "interrupted"}))
        result = invoke("train", "--resume", run_dir, "--data-dir", data)
        assert result.exit_code == 0, result.output
        assert json.loads((run_dir / "data.json").read_text())["data_dir"] == str(data)
        return result.output

    # The same file moved (dates kept): nothing to say, and evaluate finds it where it went.
    shutil.copytree(first, moved, copy_function=shutil.copy2)
    shutil.rmtree(first)
    said = resumed_on(moved)
    assert "Warning" not in said and "Note" not in said
    assert invoke("evaluate", run_dir).exit_code == 0
    # Copied without its dates: the same files and sizes, so perhaps the same data.
    copied = tmp_path / "copied"
    shutil.copytree(moved, copied, copy_function=shutil.copyfile)
    said = resumed_on(copied)
    assert "Warning" not in said and "has the files and sizes" in said
    # Other data: refused, and the record kept. It went on with a warning, the run learning
    # from both, and data.json forgot the first data.
    (run_dir / "status.json").write_text(json.dumps({
        **json.loads((run_dir / "status.json").read_text()), "status": "interrupted"}))
    record = (run_dir / "data.json").read_text()
    refused = invoke("train", "--resume", run_dir, "--data-dir", other)
    assert refused.exit_code == 2 and refused.output.startswith(
        f"Error: --data-dir {other}: its data differs from what {run_dir} was trained on so "
        f"far (its files or sizes), so the run would learn from both. Give the data it was "
        f"trained on (recorded: {copied}), or train a new run"), refused.output
    assert (run_dir / "data.json").read_text() == record
