import contextlib
import json
import os
import subprocess

import numpy as np
import pytest
import yaml

import dlcourse
import dlcourse.errors
from dlcourse.rundir import find_runs
from dlcourse.training import TrainingDiverged

from helpers import ROOT, TIMES, one_paragraph, run_measured, write_mnist

pytestmark = pytest.mark.slow
MNIST = ROOT / "configs" / "mnist_cnn.yaml"
TINY = {"data.limit": 32, "fit.epochs": 2, "fit.batch_size": 16}  # the shared "mnist" run's


def test_python_api_trains_and_returns_history_metrics_and_run_dir(trained):
    result = trained.result("mnist")  # mnist_cnn.yaml with TINY
    assert result.run_dir.parent == trained.own / "mnist_cnn"
    assert len(result.history["loss"]) == 2 and len(result.history["epoch_seconds"]) == 2
    assert result.metrics["epochs"] == 2
    assert result.metrics["parameters"] == 93322
    assert result.metrics["train_samples"] == 32 and result.metrics["test_samples"] == 32
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0
    assert result.metrics["best_epoch"] in (1, 2)
    assert result.metrics["best_val_accuracy"] == max(result.history["val_accuracy"])
    assert result.metrics["reference"]["value"] == 0.991
    assert result.metrics["versions"]["keras"].startswith("3.")
    on_disk = json.loads((result.run_dir / "history.json").read_text())
    assert on_disk == result.history
    status = json.loads((result.run_dir / "status.json").read_text())
    assert status["status"] == "finished" and status["epochs_completed"] == 2


@pytest.mark.parametrize("config, metric, says", [
    ("mnist_cnn.yaml", "F1Score", "compile.metrics[1]: F1Score gives 10 scores, one per class"),
    ("mnist_cnn.yaml", "SparseCategoricalAccuracy", "compile.metrics[1]: "
     "SparseCategoricalAccuracy can't score outputs of shape (N, 10) against labels of shape "
     "(N, 10) (Incompatible shapes: [2,10] vs. [2]); with loss categorical_crossentropy"),
    ("mnist_cnn.yaml", "Mean", "compile.metrics[1]: Mean can't score outputs of shape (N, 10) "
     "against labels of shape (N, 10) (Mean.update_state() got multiple values for argument"),
    ("imdb_lstm.yaml", "binary_crossentropy", "compile.metrics[1]: binary_crossentropy can't "
     "score outputs of shape (N, 1) against labels of shape (N)"),
])
def test_a_metric_that_cant_score_the_labels_is_named_before_training(
        data_dir, tmp_path, config, metric, says):
    """validate took them; fit raised Keras's or TensorFlow's traceback once the first
    epoch had compiled, or (F1Score's score per class) at its end."""
    from helpers import invoke

    result = invoke("train", ROOT / "configs" / config, "--data-dir", data_dir,
                    "--output-dir", tmp_path / "runs", "--set", "data.limit=8",
                    "--set", f"compile.metrics=[accuracy, {metric}]")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"Error: {ROOT / 'configs' / config}: {says}" in result.output, result.output
    assert not (tmp_path / "runs").exists()


def test_a_result_prints_as_one_line_of_its_run_and_figures(tmp_path):
    """print(result) and a text frontend showed the dataclass: 2,300 characters, the
    confusion matrix and every epoch's history included."""
    from dlcourse.training import TrainResult

    metrics = {"config": "mnist_cnn", "test_accuracy": 0.98412, "test_loss": 0.0512,
               "best_val_accuracy": 0.9861, "confusion_matrix": [[5] * 10] * 10}
    result = TrainResult(tmp_path / "mnist_cnn" / "1", {"loss": [0.3] * 50}, metrics, None)
    assert repr(result) == (f"<TrainResult mnist_cnn in {tmp_path}/mnist_cnn/1: test_accuracy "
                            "0.9841, test_loss 0.0512, best_val_accuracy 0.9861>")
    assert "0.9841" in result._repr_html_()


def test_evaluate_reproduces_the_runs_test_accuracy(data_dir, trained, tmp_path):
    result = trained.result("mnist")
    metrics = dlcourse.evaluate(trained.copy("mnist", tmp_path), data_dir=data_dir)
    assert abs(metrics["test_accuracy"] - result.metrics["test_accuracy"]) <= 0.001
    assert metrics["test_loss"] == pytest.approx(result.metrics["test_loss"], rel=1e-5)


def test_same_seed_gives_the_same_results(data_dir, tmp_path):
    overrides = {**TINY, "data.limit": 16, "fit.epochs": 1, "deterministic": True}
    first = dlcourse.train(MNIST, overrides, data_dir=data_dir, output_dir=tmp_path / "a")
    second = dlcourse.train(MNIST, overrides, data_dir=data_dir, output_dir=tmp_path / "b")
    assert {k: v for k, v in first.history.items() if k not in TIMES} == {
        k: v for k, v in second.history.items() if k not in TIMES
    }
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_data_source_is_recorded_absolute_from_a_relative_data_dir(data_dir, tmp_path):
    # Relative, it was true only from the folder the run was trained in.
    relative = os.path.relpath(data_dir, tmp_path)
    result = dlcourse.train(MNIST, {**TINY, "data.limit": 16, "fit.epochs": 1},
                            data_dir=relative, output_dir=tmp_path / "runs")
    assert result.metrics["data_source"] == str(data_dir.resolve() / "mnist.npz")
    record = json.loads((result.run_dir / "data.json").read_text())
    assert record["source"] == result.metrics["data_source"]


def test_a_deterministic_run_leaves_the_next_one_in_the_process_as_it_asks():
    """Determinism is TensorFlow's, for the whole process, and Keras turns XLA off under
    it: a notebook's deterministic run made every later one slower and without XLA."""
    from tensorflow.python.framework import config as tf_config

    from dlcourse.config import load_config
    from dlcourse.training import seed_everything

    seed_everything(load_config(MNIST, {"deterministic": True}))
    assert tf_config.is_op_determinism_enabled()
    seed_everything(load_config(MNIST))
    assert not tf_config.is_op_determinism_enabled()


def test_a_run_leaves_the_callers_random_numbers_and_determinism_as_they_were(data_dir,
                                                                           tmp_path):
    """Seeding is the run's: after a train, random.random() and np.random.rand() gave the
    same numbers each time, so a notebook's later np.random.choice repeated itself."""
    import random

    from tensorflow.python.framework import config as tf_config

    def draws():
        return random.random(), np.random.rand()

    random.seed(1), np.random.seed(1)
    expected = draws()
    random.seed(1), np.random.seed(1)
    dlcourse.train(MNIST, {**TINY, "data.limit": 16, "fit.epochs": 1, "deterministic": True},
                   data_dir=data_dir, output_dir=tmp_path)
    assert draws() == expected
    assert not tf_config.is_op_determinism_enabled()
    random.seed(1), np.random.seed(1)
    with pytest.raises(dlcourse.errors.ModelDataMismatch):  # after seeding, at the build
        dlcourse.train(MNIST, {"model.layers[7].Dense.units": 3}, data_dir=data_dir,
                       output_dir=tmp_path)
    assert draws() == expected


def test_identical_runs_in_one_process_name_their_layers_alike(trained, data_dir, tmp_path):
    """Keras counts names through a process: a notebook's second run was conv2d_2 ...
    dense_3 in its summary.txt and model.keras, the command line's conv2d ... dense_1."""
    import keras

    first = trained.result("mnist")
    before = keras.layers.Dense(1).name  # the notebook's own count
    second = dlcourse.train(MNIST, {**TINY, "data.limit": 16, "fit.epochs": 1},
                            data_dir=data_dir, output_dir=tmp_path)
    names = [layer.name for layer in second.model.layers]
    assert names == [layer.name for layer in first.model.layers]
    assert names[0] == "conv2d" and names[-1] == "dense_1"
    assert (second.run_dir / "summary.txt").read_text() == \
        (first.run_dir / "summary.txt").read_text()
    number = int(before.rpartition("_")[2]) if "_" in before else 0
    assert keras.layers.Dense(1).name == f"dense_{number + 1}"  # as if no run had been


def test_divergence_stops_the_run_and_keeps_its_record(data_dir, tmp_path):
    overrides = {**TINY, "fit.epochs": 5, "compile.optimizer": {"name": "sgd", "learning_rate": 1e12}}
    with pytest.raises(TrainingDiverged, match="Training diverged: the loss became nan at epoch"):
        dlcourse.train(MNIST, overrides, data_dir=data_dir, output_dir=tmp_path / "runs")
    (run_dir,) = find_runs(tmp_path / "runs")
    status = json.loads((run_dir / "status.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert status["status"] == "diverged" and status["epochs_completed"] == len(history["loss"])
    assert not (run_dir / "model.keras").exists()


def test_tensorboard_logs_go_into_the_run(trained):
    events = list((trained["mnist"] / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(path.stat().st_size > 0 for path in events)


def test_an_epochs_seconds_include_what_callbacks_do_after_it(tmp_path):
    import time

    import keras

    from dlcourse.callbacks import EpochRecorder

    class SlowSave(keras.callbacks.Callback):  # as the backup's save at each epoch's end
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.3)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    recorder = EpochRecorder()
    x = np.zeros((8, 2), "float32")
    model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[recorder, SlowSave()])
    # The first epoch's save falls in the second epoch, the second's in the third.
    assert all(seconds >= 0.3 for seconds in recorder.history["epoch_seconds"][1:])
    # Waiting costs wall time, not CPU time: the CPU seconds are the work alone.
    for wall, cpu in zip(recorder.history["epoch_seconds"][1:],
                         recorder.history["epoch_cpu_seconds"][1:], strict=True):
        assert 0 < cpu < wall - 0.25


# --------------------------------------------------------------------------- disks that fill up


@contextlib.contextmanager
def small_disk(path, size: str, read_only: bool = False):
    """A tmpfs of `size` at `path` for the test's runs; skipped where mounting isn't allowed."""
    path.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"can't mount a small disk here ({mounted.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def small_config(tmp_path):
    raw = yaml.safe_load(MNIST.read_text())
    raw["model"]["layers"] = ["Flatten", {"Dense": {"units": 16, "activation": "relu"}},
                              {"Dense": {"units": 10, "activation": "softmax"}}]
    raw["fit"].update(epochs=2, batch_size=16)
    raw["data"]["limit"] = 32
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("size", ["24k", "150k", "400k"])
def test_a_full_disk_fails_the_run_in_one_paragraph_and_leaves_no_partial_file(
    data_dir, tmp_path, size
):
    config = small_config(tmp_path)
    with small_disk(tmp_path / "disk", size) as disk:
        result, _ = run_measured("train", config, "--data-dir", data_dir, "--output-dir", disk)
        runs = find_runs(disk)
        leftovers = [path.name for run in runs for path in run.rglob(".partial*")]
        statuses = [json.loads((run / "status.json").read_text()) for run in runs
                    if (run / "status.json").is_file()]
    if result.returncode == 0:  # the disk was large enough after all
        assert statuses[0]["status"] == "finished"
        return
    assert one_paragraph(result), result.stderr
    assert "No space left" in result.stderr or "Can't write runs" in result.stderr or \
        "bytes free" in result.stderr, result.stderr
    assert leftovers == []
    for status in statuses:
        assert status["status"] == "failed" and status["error"]


def test_a_read_only_output_directory_is_one_paragraph_before_any_epoch(data_dir, tmp_path):
    config = small_config(tmp_path)
    with small_disk(tmp_path / "disk", "1m", read_only=True) as disk:
        result, _ = run_measured("train", config, "--data-dir", data_dir, "--output-dir", disk)
    assert one_paragraph(result) and "Can't write runs to" in result.stderr, result.stderr
    assert "loss:" not in result.stdout


@pytest.mark.slow
def test_running_out_of_memory_fails_the_run_in_one_paragraph(data_dir, tmp_path, monkeypatch):
    """TensorFlow's OOM (a config with 100,000 filters passes every check: only weights are
    bounded) was a traceback, and status.json held the whole stack."""
    import tensorflow as tf
    from click.testing import CliRunner

    from dlcourse.callbacks import EpochRecorder
    from dlcourse.cli import main

    def out_of_memory(self, epoch, logs=None):
        # As fit's graph raises it: the cause below TensorFlow's own first line.
        raise tf.errors.ResourceExhaustedError(None, None, (
            "Graph execution error:\n\nDetected at node sequential_1/conv2d_1/convolution "
            "defined at (most recent call last):\n  File \"<stdin>\", line 1\n\n"
            "{{function_node __inference_one_step_on_data_1234}} OOM when allocating tensor "
            "with shape[16,26,26,100000] and type float on /job:localhost/replica:0/task:0/"
            "device:CPU:0 by allocator cpu\n\t [[{{node sequential_1/conv2d_1/convolution}}]]"))

    monkeypatch.setattr(EpochRecorder, "on_epoch_begin", out_of_memory)
    result = CliRunner().invoke(main, ["train", str(ROOT / "configs" / "mnist_cnn.yaml"),
                                       "--data-dir", str(data_dir), "--set", "data.limit=32",
                                       "--set", "fit.batch_size=16", "--output-dir", str(tmp_path)])
    assert one_paragraph(result), result.output
    assert "ran out of memory (OOM when allocating tensor with shape[16,26,26,100000]" \
        in result.stderr and "A batch of 16 through these layers" in result.stderr
    (run,) = find_runs(tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["error"].startswith(f"Training {run} ran out")


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["kl_divergence", "categorical_hinge", "dice"])
def test_a_loss_of_one_output_per_class_trains_on_class_labels(tmp_path, loss):
    """Only categorical_crossentropy's labels were made one-hot: with MNIST's class indices
    the others stopped in TensorFlow's first step (Dimensions must be equal, 32 and 10)."""
    write_mnist(tmp_path, train=32, test=16)
    result = dlcourse.train(ROOT / "configs" / "mnist_cnn.yaml",
                            {"compile.loss": loss, "fit.epochs": 1, "output.plots": False},
                            data_dir=tmp_path, output_dir=tmp_path / "runs")
    assert 0 <= result.metrics["test_accuracy"] <= 1 and np.isfinite(result.metrics["test_loss"])


@pytest.mark.slow
@pytest.mark.parametrize("layer, says", [
    # Only training runs it: Keras's error came from the first step of fit.
    ({"Dropout": {"rate": 0.5, "noise_shape": [5, 7]}},
     "model.layers[0].Dropout: the model can't run in training: Dimensions must be equal, "
     "but are 5 and 28 with input shapes"),
    ({"GaussianDropout": {"rate": 1.0}},
     "model.layers[0].GaussianDropout: the model can't run in training: float division by zero"),
    # Built and trained a whole epoch, then failed in the evaluation, the epoch lost.
    ({"RandomCrop": {"height": 100, "width": 100}},
     "model.layers[2].Dense: the model can't run on its data: expected axis -1 of input shape "
     "to have value 10000, but received input with shape (2, 784)"),
])
def test_values_keras_refuses_only_when_the_model_runs_are_one_paragraph(tmp_path, layer, says):
    write_mnist(tmp_path, train=32, test=16)
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"dataset": "mnist"}, "fit": {"epochs": 1, "validation_split": 0.25},
        "model": {"layers": [layer, {"Flatten": {}}, {"Dense": {"units": 10, "activation": "softmax"}}]},
        "compile": {"optimizer": "rmsprop", "loss": "sparse_categorical_crossentropy"}}))
    with pytest.raises(dlcourse.errors.ModelDataMismatch) as refused:
        dlcourse.train(config, data_dir=tmp_path, output_dir=tmp_path / "runs")
    assert str(refused.value).startswith(f"{config}: {says}"), str(refused.value)
