"""The config's Keras callbacks in real tiny fits: EarlyStopping's restored best epoch is
what the run saves and tests, and a resumed run ends as an uninterrupted one would."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

import dlcourse
from dlcourse.callbacks import EpochRecorder
from helpers import TIMES, invoke, one_paragraph

pytestmark = pytest.mark.slow


def random_labels(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 noise with random labels: a model can only memorise it, so its validation
    loss is lowest early and rises after, and the best epoch is never the last."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (count, 8, 8), dtype=np.uint8), rng.integers(0, 3, count)


TRAIN, TEST = random_labels(160, 0), random_labels(48, 1)
VALIDATION = slice(120, None)  # Keras holds out the last quarter, unshuffled
OVERFITTING = {
    "model.layers": [{"Flatten": {}}, {"Dense": {"units": 64, "activation": "relu"}},
                     {"Dense": {"units": 3, "activation": "softmax"}}],
    "compile.optimizer": {"name": "adam", "learning_rate": 0.01},
    "fit.epochs": 8, "fit.batch_size": 16, "fit.validation": None, "fit.validation_split": 0.25,
    "deterministic": True,
}
RESTORE = {"EarlyStopping": {"monitor": "val_loss", "patience": 8, "restore_best_weights": True}}


def as_fitted(images, labels):
    """Images and labels as mnist_cnn's model takes them: scaled, one channel, one-hot."""
    return images.astype("float32")[..., None] / 255, np.eye(3)[labels]


def train(tmp_path, callbacks, **overrides):
    return dlcourse.train("mnist_cnn", {**OVERFITTING, "fit.callbacks": callbacks, **overrides},
                          train=TRAIN, test=TEST, output_dir=tmp_path / "runs")


def test_restore_best_weights_saves_and_tests_the_best_epochs_model(tmp_path):
    result = train(tmp_path, [RESTORE])
    history, metrics = result.history, result.metrics
    best = int(np.argmin(history["val_loss"]))
    assert metrics["restored_epoch"] == best + 1 < metrics["epochs"] == 8
    assert "EarlyStopping" in metrics["restored_by"]
    saved = keras.saving.load_model(result.run_dir / "model.keras", safe_mode=True)
    # The saved model's validation loss is the best epoch's, not the last one's.
    val_loss = saved.evaluate(*as_fitted(TRAIN[0][VALIDATION], TRAIN[1][VALIDATION]),
                              verbose=0, return_dict=True)["loss"]
    assert val_loss == pytest.approx(history["val_loss"][best], rel=1e-4)
    assert val_loss < history["val_loss"][-1] - 0.01
    test = saved.evaluate(*as_fitted(*TEST), verbose=0, return_dict=True)
    assert metrics["test_loss"] == pytest.approx(test["loss"], rel=1e-5)
    on_disk = json.loads((result.run_dir / "metrics.json").read_text())
    assert on_disk["restored_epoch"] == best + 1
    assert f"epoch {best + 1}, restored by EarlyStopping" in (
        result.run_dir / "report.html").read_text()


def test_early_stopping_ends_the_fit_and_the_run_still_finishes(tmp_path):
    result = train(tmp_path, [{"EarlyStopping": {"monitor": "val_loss", "patience": 1}},
                              "TerminateOnNaN"])
    assert result.metrics["epochs"] < 8
    assert "restored_epoch" not in result.metrics  # no restore_best_weights: the last epoch
    status = json.loads((result.run_dir / "status.json").read_text())
    assert status["status"] == "finished" and status["epochs_completed"] == result.metrics["epochs"]


def test_reduce_lr_on_plateau_lowers_the_learning_rate_the_history_records(tmp_path):
    result = train(tmp_path, [{"ReduceLROnPlateau": {"monitor": "val_loss", "factor": 0.5,
                                                     "patience": 1}}])
    rates = result.history["learning_rate"]
    assert rates[0] == pytest.approx(0.01) and rates[-1] < rates[0]


def interrupt(monkeypatch, target, name, when):
    """Ctrl-C at a known moment: when `when(args)` is true as `target.name` is called."""
    original = getattr(target, name)

    def pressed(*args, **kwargs):
        if when(args):
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, pressed)


def only_run(tmp_path):
    (run_dir,) = (tmp_path / "runs" / "mnist_cnn-custom").iterdir()
    return run_dir


def without_times(history):
    return {key: values for key, values in history.items() if key not in TIMES}


WATCHED = [RESTORE, {"ReduceLROnPlateau": {"monitor": "val_loss", "factor": 0.5, "patience": 1}}]


def test_a_run_interrupted_mid_fit_resumes_to_the_uninterrupted_callbacks_result(tmp_path, monkeypatch):
    whole = train(tmp_path / "whole", WATCHED)
    with monkeypatch.context() as patch:
        interrupt(patch, EpochRecorder, "on_epoch_begin", lambda args: args[1] == 4)
        with pytest.raises(KeyboardInterrupt):
            train(tmp_path / "stopped", WATCHED)
    resumed = dlcourse.resume(only_run(tmp_path / "stopped"), train=TRAIN, test=TEST)
    # EarlyStopping's best epoch and weights, and the lowered learning rate, came back
    # from the backup: the history, the restored epoch and the test figures are alike.
    expected = without_times(whole.history)
    assert without_times(resumed.history).keys() == expected.keys()
    for key, values in expected.items():
        np.testing.assert_allclose(resumed.history[key], values, rtol=1e-5, err_msg=key)
    assert resumed.metrics["restored_epoch"] == whole.metrics["restored_epoch"]
    assert resumed.metrics["test_loss"] == pytest.approx(whole.metrics["test_loss"], rel=1e-5)


def test_a_run_stopped_after_early_stopping_ended_its_fit_trains_no_further(tmp_path, monkeypatch):
    stopping = [{"EarlyStopping": {"monitor": "val_loss", "patience": 2,
                                   "restore_best_weights": True}}]
    whole = train(tmp_path / "whole", stopping)
    assert whole.metrics["epochs"] < 8
    import dlcourse.training

    with monkeypatch.context() as patch:
        # Ctrl-C after EarlyStopping ended the fit, before the test split was evaluated.
        interrupt(patch, dlcourse.training, "evaluate_model", lambda args: True)
        with pytest.raises(KeyboardInterrupt):
            train(tmp_path / "stopped", stopping)
    resumed = dlcourse.resume(only_run(tmp_path / "stopped"), train=TRAIN, test=TEST)
    assert resumed.metrics["epochs"] == whole.metrics["epochs"]
    assert resumed.metrics["restored_epoch"] == whole.metrics["restored_epoch"]
    assert resumed.metrics["test_loss"] == pytest.approx(whole.metrics["test_loss"], rel=1e-5)


@pytest.mark.parametrize("callbacks, words", [
    ("[ModelCheckpoint]", "ModelCheckpoint can't be used in a config: dlcourse saves the model"),
    ("[CSVLogger]", "history.csv"),
    ("[LambdaCallback]", "can't hold code"),
    ("[{EarlyStoping: {}}]", "did you mean 'EarlyStopping'"),
    ("[{EarlyStopping: {paitence: 2}}]", "did you mean 'patience'"),
    ("[{EarlyStopping: {patience: two}}]", "EarlyStopping.patience: expected an integer"),
    ("[{EarlyStopping: {mode: maximum}}]", "expected one of 'auto', 'min', 'max'"),
    ("[{EarlyStopping: {monitor: val_acuracy}}]", "did you mean 'val_accuracy'"),
    ("[{ReduceLROnPlateau: {monitor: val_loss}}]", "test split would choose"),
    # Keras refused these as the run began (a traceback, a failed run), or trained on.
    ("[{ReduceLROnPlateau: {monitor: loss, factor: 1.0}}]",
     "ReduceLROnPlateau.factor: expected a number from 0 to below 1 (the rate is multiplied "
     "by it), got 1.0"),
    ("[{ReduceLROnPlateau: {monitor: loss, min_lr: -1}}]", "min_lr: expected a number >= 0"),
    ("[{TerminateOnNaN: {raise_error: true}}]", "TerminateOnNaN.raise_error: expected false: "
     "dlcourse stops a run whose loss becomes nan itself, as diverged, got true"),
])
def test_a_callback_a_config_cant_use_is_refused_in_one_paragraph(callbacks, words):
    # mnist_cnn validates on the test split, so a val_ monitor would select on test.
    extra = () if "test split" in words else ("--set", "fit.validation=null",
                                              "--set", "fit.validation_split=0.2")
    result = invoke("validate", "configs/mnist_cnn.yaml", "--set", f"fit.callbacks={callbacks}",
                    *extra)
    assert one_paragraph(result), result.stderr
    assert "fit.callbacks[0]" in result.stderr and words in result.stderr


def test_reduce_lr_on_plateau_with_a_schedule_is_refused():
    schedule = ("compile.optimizer={name: sgd, learning_rate: {schedule: ExponentialDecay, "
                "initial_learning_rate: 0.1, decay_steps: 100, decay_rate: 0.9}}")
    result = invoke("validate", "configs/mnist_cnn.yaml", "--set", schedule,
                    "--set", "fit.validation=null", "--set", "fit.validation_split=0.2",
                    "--set", "fit.callbacks=[{ReduceLROnPlateau: {monitor: val_loss}}]")
    assert one_paragraph(result) and "is a schedule" in result.stderr, result.stderr


class SignalAtBatch(keras.callbacks.Callback):
    """Sends this process `signum` at the end of the third batch, as a user would mid-epoch."""

    def __init__(self, signum: int):
        super().__init__()
        self.signum, self.batches = signum, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if self.batches == 3:
            os.kill(os.getpid(), self.signum)


def test_ctrl_c_in_a_deferred_fit_stops_after_its_batch_and_interrupts_at_the_epoch_end():
    import signal

    from dlcourse.callbacks import InterruptAtEpochEnd

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    interrupt, ctrl_c = InterruptAtEpochEnd(), SignalAtBatch(signal.SIGINT)
    # pytest-xdist's workers ignore SIGINT; a terminal's Python raises KeyboardInterrupt.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupt.deferred():
                model.fit(np.zeros((64, 4)), np.zeros(64), batch_size=4, epochs=5, verbose=0,
                          callbacks=[ctrl_c, interrupt])
        assert ctrl_c.batches == 3  # of 16 in the epoch: the fit stopped after the batch
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_sigterm_is_deferred_to_the_epoch_end_also_where_ctrl_c_is_ignored():
    """A search started with `&` by a script ignores Ctrl-C; SIGTERM was then raised at any
    point, where Python may swallow it (a weakref's callback), and every later SIGTERM was
    ignored: `timeout` could not stop the search."""
    import signal
    import time

    from dlcourse.callbacks import InterruptAtEpochEnd
    from dlcourse.cli import _sigterm_as_ctrl_c

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    interrupt, sigterm, terminated = InterruptAtEpochEnd(), SignalAtBatch(signal.SIGTERM), []
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _sigterm_as_ctrl_c(terminated), interrupt.deferred():
            with pytest.raises(KeyboardInterrupt):
                model.fit(np.zeros((64, 4)), np.zeros(64), batch_size=4, epochs=5, verbose=0,
                          callbacks=[sigterm, interrupt])
            # Asked to stop after its batch, raised at the epoch's end (not in the handler).
            assert sigterm.batches == 3 and len(terminated) == 1 and interrupt.requested
            # Between fits: at once, and still asked for should Python swallow it.
            interrupt.requested = False
            time.sleep(1.1)
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGTERM)
            assert interrupt.requested and len(terminated) == 2
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_ctrl_c_python_swallowed_still_ends_the_run_at_the_epochs_end(tmp_path, monkeypatch):
    """Python drops a KeyboardInterrupt raised in a garbage collector's callback ("Exception
    ignored in ..."): a Ctrl-C landing there went unheard, and the run trained on through
    every epoch it had left."""
    import signal

    def swallowed(args):
        # The second epoch's third batch: the handler runs inside this try, and the
        # interrupt goes no further, as in a weakref's callback.
        if args[1] == 2 and EpochRecorder.epochs_begun == 2:
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                EpochRecorder.swallowed = True
        return False

    monkeypatch.setattr(EpochRecorder, "epochs_begun", 0, raising=False)
    monkeypatch.setattr(EpochRecorder, "swallowed", False, raising=False)
    begin = EpochRecorder.on_epoch_begin

    def counting(self, epoch, logs=None):
        EpochRecorder.epochs_begun += 1
        return begin(self, epoch, logs)

    monkeypatch.setattr(EpochRecorder, "on_epoch_begin", counting)
    interrupt(monkeypatch, EpochRecorder, "on_train_batch_end", swallowed)
    # pytest-xdist's workers ignore SIGINT; a terminal's Python raises KeyboardInterrupt.
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(tmp_path, [])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
    assert EpochRecorder.swallowed
    run_dir = only_run(tmp_path)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
    # The first epoch whole; the second, cut short after its batch, not recorded as one.
    assert len(json.loads((run_dir / "history.json").read_text())["loss"]) == 1
