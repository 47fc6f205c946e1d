import json

import numpy as np
import pytest

import dlcourse
from dlcourse.rundir import find_runs
from dlcourse.training import TrainingDiverged

from helpers import ROOT

pytestmark = pytest.mark.slow
MNIST = ROOT / "configs" / "mnist_cnn.yaml"
TINY = {"data.limit": 32, "fit.epochs": 2, "fit.batch_size": 16}  # the shared "mnist" run's


def test_python_api_trains_and_returns_history_metrics_and_run_dir(trained):
    result = trained.result("mnist")  # mnist_cnn.yaml with TINY
    assert result.run_dir.parent == trained.root / "mnist_cnn"
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


def test_evaluate_reproduces_the_runs_test_accuracy(data_dir, trained, tmp_path):
    result = trained.result("mnist")
    metrics = dlcourse.evaluate(trained.copy("mnist", tmp_path), data_dir=data_dir)
    assert abs(metrics["test_accuracy"] - result.metrics["test_accuracy"]) <= 0.001
    assert metrics["test_loss"] == pytest.approx(result.metrics["test_loss"], rel=1e-5)


def test_same_seed_gives_the_same_results(data_dir, tmp_path):
    overrides = {**TINY, "data.limit": 16, "fit.epochs": 1, "deterministic": True}
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
