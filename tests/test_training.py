import json

import numpy as np
import pytest

import dlcourse
from dlcourse.rundir import create_run_dir, find_runs, latest_run
from dlcourse.errors import RunError
from dlcourse.training import TrainingDiverged

from conftest import ROOT

pytestmark = pytest.mark.slow
MNIST = ROOT / "configs" / "mnist_cnn.yaml"
TINY = {"data.limit": 32, "fit.epochs": 2, "fit.batch_size": 16}


def test_python_api_trains_and_returns_history_metrics_and_run_dir(data_dir, tmp_path):
    result = dlcourse.train(MNIST, TINY, data_dir=data_dir, output_dir=tmp_path / "runs")
    assert result.run_dir.parent == tmp_path / "runs" / "mnist_cnn"
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


def test_evaluate_reproduces_the_runs_test_accuracy(data_dir, tmp_path):
    result = dlcourse.train(MNIST, TINY, data_dir=data_dir, output_dir=tmp_path / "runs")
    metrics = dlcourse.evaluate(result.run_dir, data_dir=data_dir)
    assert abs(metrics["test_accuracy"] - result.metrics["test_accuracy"]) <= 0.001
    assert metrics["test_loss"] == pytest.approx(result.metrics["test_loss"], rel=1e-5)


def test_same_seed_gives_the_same_results(data_dir, tmp_path):
    overrides = {**TINY, "deterministic": True}
    first = dlcourse.train(MNIST, overrides, data_dir=data_dir, output_dir=tmp_path / "a")
    second = dlcourse.train(MNIST, overrides, data_dir=data_dir, output_dir=tmp_path / "b")
    assert {k: v for k, v in first.history.items() if k != "epoch_seconds"} == {
        k: v for k, v in second.history.items() if k != "epoch_seconds"
    }
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_divergence_stops_the_run_and_keeps_its_record(data_dir, tmp_path):
    overrides = {**TINY, "fit.epochs": 5, "compile.optimizer": {"name": "sgd", "learning_rate": 1e12}}
    with pytest.raises(TrainingDiverged, match="Training diverged: the loss became nan at epoch"):
        dlcourse.train(MNIST, overrides, data_dir=data_dir, output_dir=tmp_path / "runs")
    (run_dir,) = find_runs(tmp_path / "runs")
    status = json.loads((run_dir / "status.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert status["status"] == "diverged" and status["epochs_completed"] == len(history["loss"])
    assert not (run_dir / "model.keras").exists()


def test_run_directories_are_never_reused(tmp_path):
    first = create_run_dir(tmp_path, "same")
    second = create_run_dir(tmp_path, "same")
    assert first != second and first.parent == second.parent
    assert second.name.startswith(first.name)


def test_unwritable_output_directory_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(RunError, match="Can't write runs to"):
        create_run_dir(blocker, "x")


def test_latest_run_without_runs_explains(tmp_path):
    with pytest.raises(RunError, match="No finished runs under"):
        latest_run(tmp_path)


def test_tensorboard_logs_go_into_the_run(data_dir, tmp_path):
    result = dlcourse.train(MNIST, {**TINY, "output.tensorboard": True}, data_dir=data_dir,
                            output_dir=tmp_path / "runs")
    events = list((result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(path.stat().st_size > 0 for path in events)


def test_an_epochs_seconds_include_what_callbacks_do_after_it(tmp_path):
    import time

    import keras

    from dlcourse.training import EpochRecorder

    class SlowSave(keras.callbacks.Callback):  # as the backup's save at each epoch's end
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.3)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    recorder = EpochRecorder(tmp_path)
    x = np.zeros((8, 2), "float32")
    model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[recorder, SlowSave()])
    # The first epoch's save falls in the second epoch, the second's in the third.
    assert all(seconds >= 0.3 for seconds in recorder.history["epoch_seconds"][1:])
