"""Resuming stopped runs: a real crash (SIGKILL) at any moment, resumed, must end like a run
never stopped, or say in one paragraph why it can't."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

import dlcourse
from dlcourse.errors import RunError

from helpers import (
    ROOT, dlcourse_command, history_without_times, invoke, run_dlcourse, write_mnist,
)

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
    # In one process, as in a notebook: the resumed model is built again, and its layers
    # must get their random state back.
    config = mnist_with_dropout(tmp_path, epochs=2)
    run_dir = interrupted_run(tmp_path, data_dir, config)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "interrupted"
    first_loss = json.loads((run_dir / "history.json").read_text())["loss"]
    assert len(first_loss) == 1

    called = time.perf_counter()
    result = dlcourse.resume(run_dir, data_dir=data_dir)
    took = time.perf_counter() - called
    assert result.run_dir == run_dir
    assert len(result.history["loss"]) == 2 and result.history["loss"][0] == first_loss[0]
    # Its training time holds both sessions' epochs (it held the last session's only), and
    # its first epoch is timed from the call, not from this process's import of dlcourse.
    assert result.metrics["train_seconds"] >= sum(result.history["epoch_seconds"])
    assert 0 < result.metrics["seconds_to_first_epoch"] <= took
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
    result = invoke(
        "train", MNIST, "--resume", run_dir, "--data-dir", data_dir,
        *(f"--set={key}={value}" for key, value in TINY.items()),
    )
    assert result.exit_code == 0, result.output
    assert f"Resuming {run_dir} after epoch 1 of 2, from its backup.\n" in result.output


def test_a_resume_says_which_recorded_epochs_it_trains_again(data_dir, tmp_path):
    """A kill while epoch 1's backup was written: the resume started again from epoch 1
    and rewrote the history without a word."""
    import shutil

    run_dir = interrupted_run(tmp_path, data_dir)
    shutil.rmtree(run_dir / "backup")
    result = invoke("train", "--resume", run_dir, "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert (f"Resuming {run_dir} from the start: no backup of epoch 1 could be restored, so "
            "epoch 1 is trained again.") in result.output
    assert len(json.loads((run_dir / "history.json").read_text())["loss"]) == 2


@pytest.mark.parametrize("damage", ["cut best weights", "state as a pipe"])
def test_a_damaged_backup_is_said_in_one_paragraph_without_hanging(data_dir, tmp_path, damage):
    """A best-weights file cut short was a BadZipFile traceback (the older backup never
    tried); a pipe in place of state.json hung the resume."""
    import signal

    config = tmp_path / "early.yaml"
    raw = yaml.safe_load(MNIST.read_text())
    raw["fit"].update(validation=None, validation_split=0.25, callbacks=[{"EarlyStopping": {
        "monitor": "val_loss", "patience": 5, "restore_best_weights": True}}])
    config.write_text(yaml.safe_dump(raw))
    run_dir = interrupted_run(tmp_path, data_dir, config)
    (backup,) = (run_dir / "backup").iterdir()
    if damage == "cut best weights":
        weights = backup / "best-weights-0.npz"
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        (backup / "state.json").unlink()
        os.mkfifo(backup / "state.json")
    class Hung(BaseException):  # nothing the resume catches
        pass

    def hung(signum, frame):
        raise Hung("the resume hung")

    before = signal.signal(signal.SIGALRM, hung)  # a hang fails the test, not the suite
    signal.alarm(120)
    try:
        result = invoke("train", "--resume", run_dir, "--data-dir", data_dir)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert (f"{run_dir} can't be resumed: it recorded 1 finished epoch(s), but no backup of "
            f"them can be restored ({backup.name}: ") in result.output


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
    raw.update(deterministic=True, execution={"bucketing": True})
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


KILL_AT = ROOT / "tests" / "kill_at.py"


def killable_config(tmp_path):
    """A run of a few quick epochs, deterministic, with Dropout: every piece of state a
    resumed run must get back (weights, optimizer, random-number states) is there. A small
    dense model, no plots: the moments of the run are what is tested, not the model."""
    raw = yaml.safe_load(MNIST.read_text())
    raw["model"]["layers"] = ["Flatten", {"Dense": {"units": 16, "activation": "relu"}},
                              {"Dropout": {"rate": 0.5}},
                              {"Dense": {"units": 10, "activation": "softmax"}}]
    raw.update(deterministic=True, output={"plots": False})
    raw["fit"].update(epochs=3, batch_size=32)
    path = tmp_path / "mnist_dropout.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def kill_points(counts: dict, trials: int = 20, seed: int = 0):
    """`trials` different (function, occurrence) pairs spread over every call the run makes:
    each function's last call (the final writes, the backup's removal) and random others."""
    rng = np.random.default_rng(seed)
    names = sorted(name for name, count in counts.items() if count)
    points = {(name, counts[name]) for name in names}
    possible = sum(counts[name] for name in names)
    while len(points) < min(trials, possible):
        name = names[int(rng.integers(len(names)))]
        points.add((name, int(rng.integers(1, counts[name] + 1))))
    return sorted(points)


def test_runs_killed_at_any_point_resume_to_the_uninterrupted_weights_or_say_why_not(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_mnist(data, train=96, test=16)
    config = killable_config(tmp_path)
    command, environment = dlcourse_command()
    python = command[0]
    base = ["train", str(config), "--data-dir", str(data)]
    counts_file = tmp_path / "counts.json"
    reference = subprocess.run(
        [python, str(KILL_AT), "--count", str(counts_file), *base, "--output-dir",
         str(tmp_path / "reference")], capture_output=True, text=True, env=environment,
    )
    assert reference.returncode == 0, reference.stderr
    (reference_dir,) = (tmp_path / "reference" / "mnist_dropout").iterdir()
    expected = keras.models.load_model(reference_dir / "model.keras").get_weights()
    points = kill_points(json.loads(counts_file.read_text()))
    assert len(points) >= 20, points

    plan = [{"point": name, "occurrence": occurrence, "data_dir": str(data),
             "output_dir": str(tmp_path / f"killed-{name}-{occurrence}"),
             "arguments": [*base, "--output-dir", str(tmp_path / f"killed-{name}-{occurrence}")]}
            for name, occurrence in points]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    driver = subprocess.run(
        [python, str(KILL_AT), "--kill", str(tmp_path / "plan.json"), str(tmp_path / "killed.json")],
        capture_output=True, text=True, env=environment, timeout=600,
    )
    assert driver.returncode == 0, driver.stderr
    outcomes = {"resumed": 0, "finished before the kill": 0, "never started": 0}
    for item in json.loads((tmp_path / "killed.json").read_text()):
        point = (item["point"], item["occurrence"])
        assert item["exit"] == -signal.SIGKILL, item
        if "run_dir" not in item:  # killed before its directory held a config
            outcomes["never started"] += 1
            continue
        run_dir = Path(item["run_dir"])
        message = item["resume_stderr"]
        assert "Traceback" not in message, (point, message)
        if item["resume_exit"] == 0:
            outcomes["resumed"] += 1
            assert history_without_times(run_dir) == history_without_times(reference_dir)
        else:
            # A refusal is one paragraph: finished already, or never got its status.
            assert item["resume_exit"] == 2 and message.count("Error:") == 1, (point, message)
            if "already finished" in message:
                outcomes["finished before the kill"] += 1
            else:
                outcomes["never started"] += 1
                assert "status.json is missing" in message, (point, message)
                assert not (run_dir / "model.keras").exists()
                continue
        # Never untrained weights: every run that has a model has the uninterrupted one's.
        final = keras.models.load_model(run_dir / "model.keras").get_weights()
        for mine, theirs in zip(final, expected, strict=True):
            np.testing.assert_array_equal(mine, theirs, err_msg=str(point))
        assert not [path.name for path in run_dir.iterdir() if path.name.startswith(".partial")]
    print(f"kill-and-resume: {len(points)} kill points: {outcomes}")
    assert outcomes["resumed"] >= 10


@pytest.mark.parametrize("restored, recorded, said", [
    ((3, "b"), 3, "Resuming RUN after epoch 3 of 5, from its backup."),
    ((1, "b"), 3, "Resuming RUN after epoch 1 of 5, from its backup: no backup of epoch 3 "
                  "could be restored, so epochs 2-3 are trained again."),
    ((0, None), 1, "Resuming RUN from the start: no backup of epoch 1 could be restored, so "
                   "epoch 1 is trained again."),
    ((2, "b", [{"stopped_epoch": 2}]), 2,
     "Finishing RUN: EarlyStopping had ended its training after epoch 2."),
])
def test_a_resume_says_where_it_starts_and_what_it_trains_again(restored, recorded, said):
    from dlcourse.backup import Restored, resumed_line

    epochs, source, *states = restored
    from dlcourse.rundir import RunDir

    line = resumed_line(RunDir(Path("RUN")), Restored(epochs, source and Path(source), *states),
                        recorded, 5)
    assert line == said
