"""Resuming stopped runs: a real crash (SIGKILL) resumed must end like a run never stopped."""

import json
import signal
import subprocess
import time

import keras
import numpy as np
import pytest
import yaml

import dlcourse
from dlcourse.errors import RunError

from helpers import ROOT, dlcourse_command, history_without_times, run_dlcourse, write_mnist

pytestmark = pytest.mark.slow
MNIST = ROOT / "configs" / "mnist_cnn.yaml"
TINY = {"data.limit": 32, "fit.epochs": 2, "fit.batch_size": 16}


def mnist_with_dropout(tmp_path, epochs):
    """The shipped MNIST config plus a Dropout layer, so random state must be resumed too."""
    raw = yaml.safe_load(MNIST.read_text())
    raw["model"]["layers"].insert(6, {"Dropout": {"rate": 0.5}})
    raw.update(deterministic=True)
    raw["fit"].update(epochs=epochs, batch_size=32)
    path = tmp_path / "mnist_dropout.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_mnist(data, train=512, test=32)
    config = mnist_with_dropout(tmp_path, epochs=5)
    processes = {}
    for name in ("uninterrupted", "killed"):
        command, environment = dlcourse_command(
            "train", config, "--data-dir", data, "--output-dir", tmp_path / name
        )
        processes[name] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
        )

    deadline = time.monotonic() + 300
    killed = processes["killed"]
    while True:
        histories = list(tmp_path.glob("killed/mnist_dropout/*/history.json"))
        if histories and len(json.loads(histories[0].read_text())["loss"]) >= 2:
            break
        assert killed.poll() is None and time.monotonic() < deadline, killed.stderr.read()
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # a real crash: no handler runs, nothing is tidied
    killed.communicate(timeout=60)
    (run_dir,) = (tmp_path / "killed" / "mnist_dropout").iterdir()
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "running" and not (run_dir / "model.keras").exists()
    assert (run_dir / "backup").is_dir()
    assert len(history_without_times(run_dir)["loss"]) < 5, "killed too late to test resuming"

    resumed = run_dlcourse("train", "--resume", run_dir, "--data-dir", data)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Run written to {run_dir}" in resumed.stdout
    _, stderr = processes["uninterrupted"].communicate(timeout=300)
    assert processes["uninterrupted"].returncode == 0, stderr
    (reference,) = (tmp_path / "uninterrupted" / "mnist_dropout").iterdir()

    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "finished" and status["epochs_completed"] == 5
    assert len(status["resumed"]) == 1 and status["started"] <= status["resumed"][0]
    assert not (run_dir / "backup").exists()
    assert history_without_times(run_dir) == history_without_times(reference)
    final = keras.models.load_model(run_dir / "model.keras").get_weights()
    expected = keras.models.load_model(reference / "model.keras").get_weights()
    for resumed_weights, reference_weights in zip(final, expected, strict=True):
        np.testing.assert_array_equal(resumed_weights, reference_weights)


def interrupted_run(tmp_path, data_dir, config=MNIST):
    """A real run that Ctrl-C stopped as its second epoch began."""
    from dlcourse.callbacks import EpochRecorder

    record_epoch = EpochRecorder.on_epoch_begin

    def press_ctrl_c_at_the_second_epoch(self, epoch, logs=None):
        record_epoch(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    # Ctrl-C arrives from outside at any moment; this delivers it at a known one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EpochRecorder, "on_epoch_begin", press_ctrl_c_at_the_second_epoch)
        with pytest.raises(KeyboardInterrupt):
            dlcourse.train(config, TINY, data_dir=data_dir, output_dir=tmp_path / "runs")
    (run_dir,) = (tmp_path / "runs" / config.stem).iterdir()
    return run_dir


def test_python_api_resumes_an_interrupted_run_and_continues_its_history(data_dir, tmp_path):
    # In one process, as in a notebook: the resumed model's layers get other names
    # (dropout_1, ...) than the stopped one's, and must still get their random state back.
    config = mnist_with_dropout(tmp_path, epochs=2)
    run_dir = interrupted_run(tmp_path, data_dir, config)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
    first_loss = json.loads((run_dir / "history.json").read_text())["loss"]
    assert len(first_loss) == 1

    result = dlcourse.resume(run_dir, data_dir=data_dir)
    assert result.run_dir == run_dir
    assert len(result.history["loss"]) == 2 and result.history["loss"][0] == first_loss[0]
    assert json.loads((run_dir / "history.json").read_text()) == result.history
    reference = dlcourse.train(config, TINY, data_dir=data_dir, output_dir=tmp_path / "ref")
    assert history_without_times(run_dir) == history_without_times(reference.run_dir)
    for resumed, uninterrupted in zip(
        result.model.get_weights(), reference.model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(resumed, uninterrupted)

    with pytest.raises(RunError, match="has already finished; there is nothing to resume"):
        dlcourse.resume(run_dir, data_dir=data_dir)


def test_resuming_with_a_different_config_is_refused(data_dir, tmp_path):
    run_dir = interrupted_run(tmp_path, data_dir)
    with pytest.raises(RunError, match=r"different config \(fit.epochs: 2 in the run, 3 here\)"):
        dlcourse.resume(run_dir, MNIST, {**TINY, "fit.epochs": 3}, data_dir=data_dir)
    result = run_dlcourse(
        "train", MNIST, "--resume", run_dir, "--data-dir", data_dir,
        *(f"--set={key}={value}" for key, value in TINY.items()),
    )
    assert result.returncode == 0, result.stderr


def test_resume_refuses_what_is_not_a_stopped_run(tmp_path):
    result = run_dlcourse("train", "--resume", tmp_path)
    assert result.returncode == 2 and "is not a dlcourse run directory" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "config.yaml").write_text(MNIST.read_text())
    (tmp_path / "status.json").write_text('{"status": "diverged"}')
    with pytest.raises(RunError, match="diverged; resuming it would diverge again"):
        dlcourse.resume(tmp_path)


def test_a_bucketed_recurrent_run_resumes_to_the_same_weights(data_dir, tmp_path):
    # Bucketed batches are drawn per (seed, epoch): the resumed epoch must see the
    # batches the uninterrupted run saw in that epoch.
    raw = yaml.safe_load((ROOT / "configs" / "imdb_lstm.yaml").read_text())
    raw.update(deterministic=True)
    config = tmp_path / "lstm_resumed.yaml"
    config.write_text(yaml.safe_dump(raw))
    run_dir = interrupted_run(tmp_path, data_dir, config)

    result = dlcourse.resume(run_dir, data_dir=data_dir)
    reference = dlcourse.train(config, TINY, data_dir=data_dir, output_dir=tmp_path / "ref")
    assert result.metrics["execution"]["bucketing"] is True
    assert history_without_times(run_dir) == history_without_times(reference.run_dir)
    for resumed, uninterrupted in zip(
        result.model.get_weights(), reference.model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(resumed, uninterrupted)
