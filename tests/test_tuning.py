"""`dlcourse tune` end to end: real KerasTuner searches of tiny models on tiny data."""

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import dlcourse
from dlcourse.cli import main
from dlcourse.errors import DlcourseError

from helpers import ROOT, interruptible, real_data_for, without_tensorflow, write_imdb

TUNE_CONFIG = ROOT / "configs" / "imdb_lstm_tune.yaml"
SEARCHED = [
    "model.layers[0].Embedding.output_dim",
    "model.layers[1].LSTM.units",
    "model.layers[1].LSTM.dropout",
    "compile.optimizer.learning_rate",
]


def invoke(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def tune_dir_of(output_dir):
    (tune_dir,) = (output_dir / "imdb_lstm_tune-tune").iterdir()
    return tune_dir


@pytest.mark.slow
def test_smoke_tuning_writes_trials_report_and_a_best_config_that_trains(
        data_dir, smoke_runs, tmp_path):
    # The session's `tune --smoke` (test_cli's smoke test of this config trains its best).
    _, _, tuning = smoke_runs.runs(TUNE_CONFIG, real_data_for(TUNE_CONFIG) or data_dir)
    tune_dir, output = Path(tuning["tune_dir"]), tuning["output"]
    assert {"tuning.json", "search_config.yaml", "trials.json", "trials.csv", "trials.md",
            "scores.png", "best_config.yaml"} <= {path.name for path in tune_dir.iterdir()}

    tuning = json.loads((tune_dir / "tuning.json").read_text())
    trials = json.loads((tune_dir / "trials.json").read_text())["trials"]
    assert tuning["status"] == "finished" and tuning["objective"] == "val_accuracy"
    assert tuning["overrides"] == ["data.limit=256", "fit.epochs=1"]
    assert len(trials) == 2 and all(trial["status"] == "COMPLETED" for trial in trials)
    assert trials[0]["score"] >= trials[1]["score"]  # best first
    assert all(sorted(trial["values"]) == sorted(SEARCHED) for trial in trials)
    table = (tune_dir / "trials.md").read_text().splitlines()
    assert table[0].startswith("| rank | trial # | val_accuracy |") and len(table) == 4
    assert "Trials, best first (val_accuracy)" in output
    assert (tune_dir / "scores.png").read_bytes().startswith(b"\x89PNG")

    # The best config is the best trial's values in plain YAML, and trains as it is.
    text = (tune_dir / "best_config.yaml").read_text()
    assert text.startswith("# The best of 2 trials of `dlcourse tune` (random search)")
    assert "tune:" not in text
    best = yaml.safe_load(text)
    values = trials[0]["values"]
    assert best["model"]["layers"][1]["LSTM"]["units"] == values["model.layers[1].LSTM.units"]
    assert best["compile"]["optimizer"]["learning_rate"] == values["compile.optimizer.learning_rate"]
    # As it is, on the tiny data: all its epochs.
    trained = invoke("train", tune_dir / "best_config.yaml", "--data-dir", data_dir,
                     "--output-dir", tmp_path / "runs")
    assert trained.exit_code == 0, trained.output
    (run_dir,) = (tmp_path / "runs" / "imdb_lstm_tune-best").iterdir()
    assert json.loads((run_dir / "status.json").read_text())["status"] == "finished"


@pytest.mark.slow
@pytest.mark.parametrize("algorithm, more", [("hyperband", {}), ("bayesian", {"trials": 2})])
def test_python_api_with_hyperband_and_bayesian(data_dir, tmp_path, algorithm, more):
    """Bayesian optimisation failed on import: KerasTuner's needs scipy, which wasn't installed."""
    result = dlcourse.tune(TUNE_CONFIG, {"data.limit": 64, "fit.epochs": 2},
                           algorithm=algorithm, data_dir=data_dir, output_dir=tmp_path, **more)
    assert result.trials and result.best_config is not None
    assert result.best_config.name == "imdb_lstm_tune-best"
    assert json.loads((result.tune_dir / "tuning.json").read_text())["algorithm"] == algorithm


@pytest.mark.slow
def test_an_interrupted_tuning_resumes_without_redoing_finished_trials(data_dir, tmp_path):
    # Trials long enough to interrupt the second one: 30 epochs of 32 reviews each.
    process = subprocess.Popen(
        [sys.executable, "-m", "dlcourse", "tune", TUNE_CONFIG, "--trials", "2",
         "--data-dir", data_dir, "--set", "data.limit=32", "--set", "fit.epochs=30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible,
    )
    root = tmp_path / "runs/imdb_lstm_tune-tune"
    deadline = time.monotonic() + 240
    while not (_completed_trials(root) and list(root.glob("*/keras_tuner/search/trial_1"))):
        assert process.poll() is None and time.monotonic() < deadline, "no trial finished"
        time.sleep(0.2)
    # Into the second trial's epochs: a signal that lands in KerasTuner's garbage
    # collection between trials is swallowed by Python ("Exception ignored"), so repeat it.
    time.sleep(2)
    for _ in range(3):
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    assert process.returncode == 130, stderr
    tune_dir = tune_dir_of(tmp_path / "runs").relative_to(tmp_path)
    assert f"continue it with `dlcourse tune --resume {tune_dir}`." in stderr, stderr
    # KerasTuner took a process with IPython installed for a notebook and "cleared" the
    # log between trials with terminal escape codes.
    assert "Trial 1 Complete" in stdout and "\x1b[" not in stdout, stdout
    tune_dir = tune_dir_of(tmp_path / "runs")
    assert json.loads((tune_dir / "tuning.json").read_text())["status"] == "interrupted"
    # The trial it stopped in said "running" in trials.csv and trials.json.
    stopped = json.loads((tune_dir / "trials.json").read_text())["trials"]
    assert sorted(trial["status"] for trial in stopped) == ["COMPLETED", "INTERRUPTED"]
    assert "running" not in (tune_dir / "trials.csv").read_text()
    (finished,) = _completed_trials(root)
    before = json.loads(finished.read_text())
    finished_at = finished.stat().st_mtime_ns

    # A copy whose finished trial's folder is gone: a KeyError traceback mid-search.
    import shutil

    copy = shutil.copytree(tune_dir, tmp_path / "copy")
    (trial_folder,) = [path for path in (copy / "keras_tuner" / "search").glob("trial_*")
                       if path.name == finished.parent.name]
    shutil.rmtree(trial_folder)
    refused = invoke("tune", "--resume", copy)
    assert refused.exit_code == 2 and (f"KerasTuner's saved state can't be read "
                                       f"({trial_folder.name} is missing, though the search "
                                       "started it)") in refused.output, refused.output
    # An edited search_config.yaml: KerasTuner's saved space won over a narrowed range.
    edited = shutil.copytree(tune_dir, tmp_path / "edited")
    text = (edited / "search_config.yaml").read_text()
    assert "max: 64" in text
    (edited / "search_config.yaml").write_text(text.replace("max: 64", "max: 48", 1))
    refused = invoke("tune", "--resume", edited)
    assert refused.exit_code == 2 and "search_config.yaml was changed after the search " \
        "started" in refused.output, refused.output
    # A comment and Windows line ends are no other config.
    (edited / "search_config.yaml").write_bytes(("# mine\n" + text).replace("\n", "\r\n").encode())
    from dlcourse.tune_dir import TuneDir

    assert TuneDir(edited).resumable()[1]["search_config_sha256"]
    # Other data: trials scored on shuffled labels were ranked beside the first ones.
    (tmp_path / "other").mkdir()
    write_imdb(tmp_path / "other", seed=7)
    refused = invoke("tune", "--resume", tune_dir, "--data-dir", tmp_path / "other")
    assert refused.exit_code == 2 and (f"The data in {tmp_path / 'other'} is not what "
                                       f"{tune_dir}'s trials so far were trained and scored "
                                       "on") in refused.output, refused.output
    resumed = invoke("tune", "--resume", tune_dir)
    assert resumed.exit_code == 0, resumed.output
    # KerasTuner prints "Running Trial #N" for each trial it runs: only the second ran.
    assert "Running Trial #2" in resumed.output and "Running Trial #1\n" not in resumed.output
    assert finished.stat().st_mtime_ns == finished_at
    trials = json.loads((tune_dir / "trials.json").read_text())["trials"]
    assert sorted(trial["status"] for trial in trials) == ["COMPLETED", "COMPLETED"]
    (kept,) = [trial for trial in trials if trial["trial_id"] == before["trial_id"]]
    assert kept["score"] == before["score"]
    assert kept["values"] == {key: before["hyperparameters"]["values"][key] for key in SEARCHED}
    assert json.loads((tune_dir / "tuning.json").read_text())["status"] == "finished"


def _completed_trials(root):
    return [path for path in root.glob("*/keras_tuner/search/trial_*/trial.json")
            if json.loads(path.read_text() or "{}").get("status") == "COMPLETED"]


@pytest.mark.slow
def test_an_interrupted_search_from_python_says_how_to_resume_it(data_dir, tmp_path,
                                                                   monkeypatch):
    # It was a bare KeyboardInterrupt in a notebook, where train's names dlcourse.resume.
    from dlcourse.tuning import ConfigHyperModel

    def press_ctrl_c(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ConfigHyperModel, "fit", press_ctrl_c)
    # And a second Ctrl-C as the stop is written: it cut that off, leaving "running".
    import signal

    from dlcourse.interrupts import handlers_set
    from dlcourse.tune_dir import TuneDir

    write_trials = TuneDir.write_trials

    def pressed_again(self, *args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return write_trials(self, *args, **kwargs)

    monkeypatch.setattr(TuneDir, "write_trials", pressed_again)
    # pytest-xdist's workers ignore SIGINT; a terminal's Python raises KeyboardInterrupt.
    with handlers_set({signal.SIGINT: signal.default_int_handler}), \
            pytest.raises(KeyboardInterrupt) as interrupt:
        dlcourse.tune(TUNE_CONFIG, {"data.limit": 32, "fit.epochs": 1}, trials=1,
                      data_dir=data_dir, output_dir=tmp_path)
    tune_dir = tune_dir_of(tmp_path)
    assert interrupt.value.tune_dir == tune_dir
    assert (f"continue it with dlcourse.resume_tuning('{tune_dir.absolute()}')"
            in str(interrupt.value))
    assert json.loads((tune_dir / "tuning.json").read_text())["status"] == "interrupted"


def test_a_trial_stopped_before_its_first_scored_epoch_has_no_best_epoch():
    """KerasTuner's best_step is 0 until an epoch is scored: such a trial said "epoch 1"."""
    from types import SimpleNamespace

    from dlcourse.tuning import trial_records

    def trial(score, best_step):
        return SimpleNamespace(hyperparameters=SimpleNamespace(values={}), status="STOPPED",
                               score=score, best_step=best_step)

    tuner = SimpleNamespace(oracle=SimpleNamespace(trials={"0": trial(0.7, 2),
                                                           "1": trial(None, 0)}))
    assert [record.best_epoch for record in trial_records(tuner, ())] == [3, None]


def test_a_tuning_result_prints_as_one_line_of_its_trials_and_best_score(tmp_path):
    # Its repr was the dataclass's, the whole best Config in it.
    from dlcourse.config import load_config
    from dlcourse.tuning import TuneResult
    from dlcourse.tuning_report import TrialRecord

    trials = [TrialRecord("0", "COMPLETED", 0.61, 2, {}), TrialRecord("1", "COMPLETED", 0.7123, 1, {}),
              TrialRecord("2", "FAILED", None, None, {})]
    result = TuneResult(tmp_path / "t-tune" / "1", (), "val_accuracy", "max", trials,
                        load_config(ROOT / "configs" / "mnist_cnn.yaml"))
    assert repr(result) == (f"<TuneResult t-tune in {tmp_path}/t-tune/1: 3 trials, 2 completed; "
                            "best val_accuracy 0.7123 (trial 2)>")


def test_validate_accepts_a_tunable_config_and_lists_what_it_searches():
    result = invoke("validate", TUNE_CONFIG)
    assert result.exit_code == 0
    assert "Searches 4 values" in result.output
    assert "model.layers[1].LSTM.units: int 16..64 step 16" in result.output


def test_validate_does_not_import_tensorflow():
    code = ("import sys; from dlcourse.cli import main; sys.argv = ['dlcourse', 'validate', "
            f"{str(TUNE_CONFIG)!r}]\ntry: main()\nexcept SystemExit: pass\n"
            "assert 'tensorflow' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_train_on_a_tunable_config_exits_2_pointing_to_tune():
    result = subprocess.run([sys.executable, "-m", "dlcourse", "train", TUNE_CONFIG],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"`dlcourse tune {TUNE_CONFIG}`" in result.stderr


@pytest.mark.parametrize(
    ("config", "options", "message"),
    [
        ("imdb_lstm.yaml", [], "searches no values, so there is nothing to tune"),
        ("mnist_cnn.yaml", ["--set", "fit.batch_size={tune: choice, values: [32, 64]}"],
         "validates on the test split"),
        ("imdb_lstm_tune.yaml", ["--set", "fit.validation_split=null"], "no validation data"),
        ("imdb_lstm_tune.yaml", ["--algorithm", "hyperband", "--trials", "3"],
         "Hyperband decides how many trials"),
        # A billion epochs started 3^18 models, where --trials stops at 10,000.
        ("imdb_lstm_tune.yaml", ["--algorithm", "hyperband", "--set", "fit.epochs=1000000000"],
         "would train at least 598,326,563 models, more than the 10,000 a search may"),
    ],
)
def test_what_cannot_be_tuned_is_refused_before_any_file(data_dir, tmp_path, config, options, message):
    with pytest.raises(DlcourseError, match=message):
        dlcourse_tune_cli(ROOT / "configs" / config, data_dir, *options)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("trials", [0, -3, 2.5, 10**12])
def test_a_trial_count_out_of_range_is_refused(data_dir, tmp_path, trials):
    # From Python, trials=0 searched without end, and a trillion as good as.
    with pytest.raises(DlcourseError, match=re.escape(f"{trials!r} trials: expected a whole")):
        dlcourse.tune(ROOT / "configs" / "imdb_lstm_tune.yaml", trials=trials, smoke=True,
                      data_dir=data_dir, output_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_a_numpy_trial_count_is_a_whole_number():
    """trials=np.int64(2) was refused as no whole number, where overrides take NumPy's."""
    import numpy as np

    from dlcourse.config import load_search_config
    from dlcourse.tune_dir import check_search

    search = load_search_config(TUNE_CONFIG)
    counted = check_search(search, "random", np.int64(2), False)
    assert counted == 2 and type(counted) is int  # written to tuning.json
    with pytest.raises(DlcourseError, match="True trials: expected a whole number"):
        check_search(search, "random", True, False)


def dlcourse_tune_cli(config, data_dir, *options):
    # Through the command itself, with the error raised rather than printed.
    from dlcourse.cli import tune

    return tune.main([str(config), "--data-dir", str(data_dir), *options], standalone_mode=False)


def test_resume_refuses_other_settings_and_non_tuning_directories(tmp_path):
    assert "drop --trials" in invoke("tune", "--resume", tmp_path, "--trials", "3").output
    # It named "--overrides", an option that doesn't exist.
    assert "drop --set." in invoke("tune", "--resume", tmp_path, "--set", "fit.epochs=2").output
    result = invoke("tune", "--resume", tmp_path)
    assert result.exit_code == 2 and "is not a tuning directory" in result.output


def test_resume_names_a_damaged_setting_or_missing_data_before_tensorflow(tmp_path):
    # A tuning directory as `tune` writes it, before any trial: its settings and config.
    settings = {"config": str(TUNE_CONFIG), "algorithm": "random", "max_trials": 2,
                "overrides": [], "data_dir": str(tmp_path / "moved")}
    cases = [({}, "Can't find imdb.npz"),
             ({"algorithm": "grid"}, "its 'algorithm' should be one of random, bayesian"),
             ({"max_trials": "2"}, "its 'max_trials' should be a whole number from 1 to 10,000"),
             ({"max_trials": 10**12}, "its 'max_trials' should be a whole number from 1 to"),
             ({"overrides": "fit.epochs=1"}, "its 'overrides' should be a list"),
             ({"data_dir": None, "config": None}, "its 'config' should be")]
    commands = []
    for number, (change, message) in enumerate(cases):
        tune_dir = tmp_path / f"tune{number}"
        tune_dir.mkdir()
        (tune_dir / "tuning.json").write_text(json.dumps({**settings, **change}))
        searched = {**yaml.safe_load(TUNE_CONFIG.read_text()), "name": TUNE_CONFIG.stem}
        (tune_dir / "search_config.yaml").write_text(yaml.safe_dump(searched))
        commands.append((["tune", "--resume", tune_dir], 2, message))
    # A damaged search_config.yaml: PyYAML's traceback, exit 1, even for a Python tag.
    for number, (text, message) in enumerate([
            ("seed: [1, 2\n", "search_config.yaml: not valid YAML: did not find expected ',' or ']'"),
            ("a: !!python/object/apply:os.system [touch PWNED]\n",
             "search_config.yaml: not valid YAML: ")]):
        tune_dir = tmp_path / f"damaged{number}"
        tune_dir.mkdir()
        (tune_dir / "tuning.json").write_text(json.dumps({**settings, "data_dir": None}))
        (tune_dir / "search_config.yaml").write_text(text)
        commands.append((["tune", "--resume", tune_dir], 2, message))
    # A tuning directory's damage is said of it, not of a "run directory".
    damaged = tmp_path / "latin1"
    damaged.mkdir()
    (damaged / "tuning.json").write_text(json.dumps({**settings, "data_dir": None}))
    (damaged / "search_config.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    commands.append((["tune", "--resume", damaged], 2,
                     "search_config.yaml is not UTF-8 text; is the tuning directory damaged?"))
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "tuning.json").write_text('{"config": ')
    (cut / "search_config.yaml").write_text("name: mine\n")
    commands.append((["tune", "--resume", cut], 2, "; is the tuning directory damaged?"))
    without_tensorflow(commands)
    assert not (tmp_path / "PWNED").exists()


def test_a_smoke_searchs_best_config_is_the_config_it_searched(tmp_path):
    """best_config.yaml undoes --smoke's limits; it did so by reading the config file again
    when the search ended, so a file changed meanwhile gave a model never tried."""
    from dlcourse.config import load_search_config
    import yaml

    from dlcourse.tuning import _best_config
    from dlcourse.tuning_report import TrialRecord

    path = tmp_path / "mine.yaml"
    path.write_text(TUNE_CONFIG.read_text())
    # A dict config has no file to read again: its best config kept the smoke limits.
    for given in (path, yaml.safe_load(TUNE_CONFIG.read_text())):
        search = load_search_config(given, ["fit.batch_size=64"], smoke=True)
        assert search.config.data.limit == 256 and search.config.fit.epochs == 1
        settings = {"config": str(search.source), "smoke": True, "data_dir": None,
                    "user_overrides": ["fit.batch_size=64"], "unreduced": dict(search.unreduced)}
        path.write_text(TUNE_CONFIG.read_text().replace("epochs: 10", "epochs: 3")
                        .replace("name: rmsprop", "name: adam"))
        first = {expression.path: expression.first for expression in search.expressions}
        best = _best_config(search, settings, TrialRecord("0", "COMPLETED", 0.5, 1, first))
        assert best.fit.epochs == 10 and best.data.limit is None and best.fit.batch_size == 64
        assert best.compile.optimizer.name == "rmsprop"


@pytest.mark.parametrize("settings, said", [
    ({"smoke": True, "overrides": ["data.limit=256", "fit.epochs=1", "fit.batch_size=64"],
      "user_overrides": ["fit.batch_size=64"]},
     ["Tuned from mine.yaml with --smoke --set fit.batch_size=64.",
      "The search ran with --smoke (a subset, 1 epoch); this config leaves that out, so it "
      "trains on what the file says and the --set values above."]),
    ({"smoke": False, "overrides": ["fit.batch_size=64"], "user_overrides": ["fit.batch_size=64"]},
     ["Tuned from mine.yaml with --set fit.batch_size=64."]),
    # Tuned before user_overrides was kept: every item, as the search had them.
    ({"smoke": True, "overrides": ["data.limit=256", "fit.epochs=1"]},
     ["Tuned from mine.yaml with --set data.limit=256 --set fit.epochs=1.",
      "The search ran with --smoke (a subset, 1 epoch); this config leaves that out, so it "
      "trains on what the file says."]),
])
def test_the_best_configs_header_says_smoke_apart_from_the_users_set_values(
        tmp_path, settings, said):
    """--smoke's own data.limit and fit.epochs were listed as --set items the config kept."""
    from types import SimpleNamespace

    from dlcourse.tuning import _best_config_header
    from dlcourse.tuning_report import TrialRecord

    search = SimpleNamespace(source=Path("mine.yaml"), expressions=())
    tune_dir = SimpleNamespace(path=tmp_path, best_config_path=tmp_path / "best_config.yaml")
    settings = {"algorithm": "random", "objective": "val_accuracy", **settings}
    lines = _best_config_header(tune_dir, search, settings,
                                TrialRecord("0", "COMPLETED", 0.5, 1, {}), 2)
    assert lines[1:1 + len(said)] == said


@pytest.mark.slow
def test_trials_that_fail_are_said_in_a_line_each_and_stop_the_search_in_a_paragraph(tmp_path):
    """Each failed trial printed KerasTuner's traceback, and three in a row ended in its
    RuntimeError's, exit 1."""
    from helpers import write_mnist

    write_mnist(tmp_path, train=64, test=16)
    result = subprocess.run(
        [sys.executable, "-m", "dlcourse", "tune", ROOT / "configs" / "mnist_cnn.yaml",
         "--data-dir", tmp_path, "--output-dir", tmp_path / "t", "--trials", "6",
         "--set", "fit.validation=null", "--set", "fit.validation_split=0.25",
         "--set", "fit.epochs=1", "--set",
         "model.layers[0].Conv2D.kernel_size={tune: choice, values: [3, 29, 30, 31, 32]}"],
        capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "Trial failed (model.layers[0].Conv2D.kernel_size=3" in result.stderr
    assert result.stderr.count("Error:") == 1 and "3 trials in a row failed" in result.stderr
    (tune_dir,) = (tmp_path / "t" / "mnist_cnn-tune").iterdir()
    assert json.loads((tune_dir / "tuning.json").read_text())["status"] == "failed"
    # Resumed, it would retry the last failed trial and stop again at once.
    resumed = CliRunner().invoke(main, ["tune", "--resume", str(tune_dir)])
    assert resumed.exit_code == 2 and "stopped on trials that failed in a row" in resumed.output


@pytest.mark.slow
def test_a_search_that_runs_out_of_values_says_so(tmp_path):
    """--trials 5 over a choice of two ran two trials and ended without a word."""
    from helpers import write_mnist

    write_mnist(tmp_path, train=64, test=16)
    result = invoke("tune", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", tmp_path,
                    "--output-dir", tmp_path / "t", "--trials", "5",
                    "--set", "fit.validation=null", "--set", "fit.validation_split=0.25",
                    "--set", "fit.epochs=1",
                    "--set", "model.layers[0].Conv2D.filters={tune: choice, values: [2, 4]}")
    assert result.exit_code == 0, result.output
    assert ("The search ended after 2 of 5 trials: the searched values make 2 combinations, "
            "all of them tried.\n") in result.stdout


def test_a_search_running_finished_or_without_its_state_is_not_resumed(tmp_path):
    """Two --resume ran the same trial into the same folder; a finished search was run
    again; one whose keras_tuner/ was gone reran every trial over trials.json."""
    from dlcourse.errors import RunError
    from dlcourse.tune_dir import TuneDir

    tune_dir = TuneDir(tmp_path / "search")
    tune_dir.path.mkdir()
    (tune_dir.path / "search_config.yaml").write_text("name: mine\n" + TUNE_CONFIG.read_text())
    settings = {"config": str(TUNE_CONFIG), "algorithm": "random", "max_trials": 2,
                "overrides": [], "data_dir": None, "status": "interrupted"}
    tune_dir.write_settings(settings)
    tune_dir.tuner_directory.mkdir()
    assert tune_dir.resumable()[1]["status"] == "interrupted"
    with tune_dir.search_lock():
        with pytest.raises(RunError, match="is being searched by process"):
            tune_dir.resumable()
    tune_dir.write_settings({**settings, "status": "finished"})
    with pytest.raises(DlcourseError, match="this search has finished"):
        tune_dir.resumable()
    tune_dir.write_settings(settings)
    (tune_dir.path / "trials.json").write_text("{}")
    tune_dir.tuner_directory.rmdir()
    with pytest.raises(DlcourseError, match="keras_tuner is gone"):
        tune_dir.resumable()


def test_a_search_records_where_it_found_its_own_files(tmp_path, monkeypatch):
    """Found in the current folder, the data was recorded nowhere: best_config.yaml, whose
    "Train it:" line names it by an absolute path, failed from any other folder."""
    import yaml

    from dlcourse.config import load_search_config
    from dlcourse.tuning import _absolute_data_dir

    (tmp_path / "tx").mkdir()
    for split in ("train", "test"):
        (tmp_path / "tx" / f"{split}-a.jsonl").write_text('{"text": "fine", "label": 1}\n')
    raw = yaml.safe_load((ROOT / "configs" / "imdb_text_lstm.yaml").read_text())
    raw["data"].update(train="tx/train-*.jsonl", test="tx/test-*.jsonl")
    monkeypatch.chdir(tmp_path)
    search = load_search_config(raw)
    assert _absolute_data_dir(search, None) == str(tmp_path.resolve())
    assert _absolute_data_dir(search, "tx/..") == str(tmp_path.resolve())
    assert _absolute_data_dir(load_search_config(ROOT / "configs" / "mnist_cnn.yaml"), None) is None


def test_the_trials_bound_is_in_the_help_and_is_the_searchs():
    """--help said [x>=1], and 100,000 trials were refused only after the config loaded."""
    from dlcourse.tune_dir import MOST_TRIALS

    result = CliRunner().invoke(main, ["tune", "--help"], terminal_width=200)
    assert f"[1<=x<={MOST_TRIALS}]" in result.output, result.output
    refused = CliRunner().invoke(main, ["tune", str(TUNE_CONFIG), "--trials", str(MOST_TRIALS + 1)])
    assert refused.exit_code == 2 and f"1<=x<={MOST_TRIALS}" in refused.output, refused.output


@pytest.mark.slow
def test_a_resumed_search_scores_each_trial_as_an_uninterrupted_one(data_dir, tmp_path,
                                                                     monkeypatch):
    """Seeded once per search, a trial drew on where the trials before it left off: after
    a resume the trial trained again (and those after it) scored otherwise, and the best
    config could change with when Ctrl-C was pressed."""
    from dlcourse.interrupts import handlers_set
    from dlcourse.tuning import ConfigHyperModel

    overrides = {"data.limit": 32, "fit.epochs": 2}

    def scores(tune_dir):
        trials = json.loads((tune_dir / "trials.json").read_text())["trials"]
        return [(trial["values"], trial["score"]) for trial in trials]

    dlcourse.tune(TUNE_CONFIG, overrides, trials=3, data_dir=data_dir,
                  output_dir=tmp_path / "whole")
    uninterrupted = scores(tune_dir_of(tmp_path / "whole"))
    assert len(uninterrupted) == 3 and len({score for _, score in uninterrupted}) > 1

    fit, fits = ConfigHyperModel.fit, []

    def ctrl_c_in_the_second_trial(self, *args, **kwargs):
        fits.append(1)
        if len(fits) == 2:
            raise KeyboardInterrupt
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(ConfigHyperModel, "fit", ctrl_c_in_the_second_trial)
    with handlers_set({signal.SIGINT: signal.default_int_handler}), \
            pytest.raises(KeyboardInterrupt):
        dlcourse.tune(TUNE_CONFIG, overrides, trials=3, data_dir=data_dir,
                      output_dir=tmp_path / "stopped")
    monkeypatch.setattr(ConfigHyperModel, "fit", fit)
    tune_dir = tune_dir_of(tmp_path / "stopped")
    dlcourse.resume_tuning(tune_dir)
    assert scores(tune_dir) == uninterrupted


@pytest.mark.parametrize("override, said", [
    ("model.layers[0].Embedding.input_dim={tune: choice, values: [10000, 5000]}",
     "model.layers[0].Embedding.input_dim is 5000, but data.num_words is 10000"),
    ("model.layers[2].Dense.units={tune: int, min: 1, max: 2}",
     "gives 2 outputs, but binary_crossentropy on imdb, with 2 classes, needs 1"),
])
def test_a_searched_value_the_data_cant_take_is_refused_before_any_trial(override, said,
                                                                         tmp_path):
    """Refused at once as a plain value, a choice of it passed validate, and the search
    failed trial after trial until it stopped."""
    for command in (["validate", TUNE_CONFIG], ["tune", TUNE_CONFIG, "--data-dir", tmp_path]):
        result = CliRunner().invoke(main, [*map(str, command), "--set", override])
        assert result.exit_code == 2, result.output
        assert said in result.output and "(searched by " in result.output, result.output
        assert "Trial" not in result.output
