"""MLflow tracking with the real mlflow package: a run, read back with MlflowClient."""

import json
import os

import pytest
import yaml

import dlcourse
from dlcourse.errors import DlcourseError
from dlcourse.tracking import flat_params, store_uri

from helpers import ROOT, invoke

pytestmark = pytest.mark.slow


def client_for(store):
    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # as dlcourse's Tracker does
    return MlflowClient(tracking_uri=store_uri(str(store)))


def only_run(client, experiment: str):
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def test_a_tracked_run_logs_config_epochs_test_metrics_and_its_directory(data_dir, tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default store is ./mlruns
    result = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--set", "data.limit=32",
                    "--set", "fit.epochs=2", "--set", "fit.batch_size=16", "--track", "mlflow",
                    "--data-dir", data_dir, "--output-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    client = client_for(tmp_path / "mlruns")
    run = only_run(client, "mnist_cnn")
    (run_dir,) = (tmp_path / "runs" / "mnist_cnn").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    assert run.info.status == "FINISHED"
    assert run.data.params["fit.epochs"] == "2"
    assert run.data.params["model.layers.0.Conv2D.filters"] == "32"
    assert run.data.params["compile.optimizer.name"] == "rmsprop"
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in losses] == [1, 2]
    assert [m.value for m in losses] == pytest.approx(history["loss"])
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"model.keras", "metrics.json", "config.yaml", "report.html"} <= artifacts
    assert not [path for path in artifacts if path.startswith(".")]  # the run's .lock was
    assert run.data.tags["dlcourse.run_dir"] == str(run_dir.resolve())
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["output"]["mlflow"] == {}
    # Said, where the command printed nothing of MLflow.
    assert f"Logged to MLflow: run {run.info.run_id} at file:" in result.stderr


def test_output_mlflow_in_a_config_names_the_store_and_experiment(data_dir, tmp_path):
    store = tmp_path / "elsewhere"
    run = dlcourse.train(ROOT / "configs" / "imdb_lstm.yaml",
                         {"data.limit": 40, "fit.epochs": 1,
                          "output.mlflow": {"tracking_uri": str(store), "experiment": "lecture"}},
                         data_dir=data_dir, output_dir=tmp_path / "runs")
    logged = only_run(client_for(store), "lecture")
    assert logged.data.metrics["test_loss"] == pytest.approx(run.metrics["test_loss"])
    assert logged.data.params["data.maxlen"] == "500"


def test_a_tracked_search_nests_each_trial(data_dir, tmp_path):
    store = tmp_path / "mlruns"
    result = dlcourse.tune(ROOT / "configs" / "imdb_lstm_tune.yaml",
                           {"output.mlflow": {"tracking_uri": str(store)}}, smoke=True,
                           data_dir=data_dir, output_dir=tmp_path / "tuning")
    client = client_for(store)
    experiment = client.get_experiment_by_name("imdb_lstm_tune").experiment_id
    runs = client.search_runs([experiment])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == len(result.trials) == 2
    assert all(t.info.status == "FINISHED" and "val_loss" in t.data.metrics for t in trials)
    assert parent.info.status == "FINISHED"
    assert {"trials.json", "best_config.yaml"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_a_store_that_cant_be_written_is_one_paragraph_and_leaves_no_run(data_dir, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--smoke",
                    "--set", f"output.mlflow.tracking_uri={blocked / 'mlruns'}",
                    "--data-dir", data_dir, "--output-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert "Can't track with MLflow" in result.output
    assert not (tmp_path / "runs").exists()


def test_a_tracking_server_that_takes_no_connection_is_said_before_any_retry(
        data_dir, tmp_path, monkeypatch):
    """MLflow's client retried for over four minutes, silently, before the refusal."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the old way, quickly
    result = invoke("train", ROOT / "configs" / "mnist_cnn.yaml", "--smoke",
                    "--set", f"output.mlflow.tracking_uri=http://127.0.0.1:{port}",
                    "--data-dir", data_dir, "--output-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert f"Can't track with MLflow at http://127.0.0.1:{port}: no server answers there" \
        in result.output
    assert not (tmp_path / "runs").exists()


def test_a_missing_mlflow_names_the_extra(monkeypatch):
    import importlib.util

    from dlcourse.config.sections import MlflowConfig
    from dlcourse.tracking import Tracker

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(DlcourseError, match=r"Install the extra: pip install .*\[mlflow\]'"):
        Tracker(MlflowConfig(), name="x")


def test_a_plain_path_is_a_folder_and_mlflows_own_store_names_are_kept(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert store_uri("mine") == (tmp_path / "mine").as_uri()
    assert store_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    # MLflow's name for a Databricks workspace became the folder ./databricks, unsaid.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    assert store_uri(None) == "databricks"


def test_params_are_the_configs_leaves_by_dotted_path():
    params = dict(flat_params({"model": {"layers": [{"Dense": {"units": 3}}]},
                               "compile": {"metrics": ["accuracy"]}, "name": "n"}))
    assert params == {"model.layers.0.Dense.units": "3", "compile.metrics": '["accuracy"]',
                      "name": "n"}


def test_an_interrupted_run_is_killed_in_mlflow_and_its_resume_logs_to_the_same_run(
        data_dir, tmp_path):
    import subprocess

    from helpers import dlcourse_command, train_until_first_epoch_then_ctrl_c

    command, environment = dlcourse_command(
        "train", ROOT / "configs" / "mnist_cnn.yaml", "--data-dir", data_dir, "--track", "mlflow",
        "--set", "fit.epochs=30", "--set", "data.limit=32", "--set", "fit.batch_size=16")
    train_until_first_epoch_then_ctrl_c(command, environment, tmp_path / "runs", cwd=tmp_path)
    client = client_for(tmp_path / "mlruns")
    assert only_run(client, "mnist_cnn").info.status == "KILLED"

    (run_dir,) = tmp_path.glob("runs/mnist_cnn/*")
    # From another folder: the store was looked for there (./mlruns), the run not found.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resumed = subprocess.run([*command[:3], "train", "--resume", str(run_dir), "--data-dir",
                              str(data_dir)], env=environment, cwd=elsewhere,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (elsewhere / "mlruns").exists()
    run = only_run(client, "mnist_cnn")  # still one MLflow run
    assert run.info.status == "FINISHED" and "test_accuracy" in run.data.metrics
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
    assert sorted(set(steps)) == list(range(1, 31))


def test_a_damaged_or_gone_tracking_record_is_named_before_a_resume_logs(tmp_path):
    """An odd mlflow_run_id started a new MLflow run silently, an odd tracking_uri looked for
    the store anew (and claimed it was where the run was tracked), and a store that is gone
    was made again, empty, while the resume was refused."""
    from dlcourse.config.sections import MlflowConfig
    from dlcourse.errors import RunError
    from dlcourse.rundir import RunDir
    from dlcourse.tracking import Tracker

    run = RunDir(tmp_path)
    for record, key in (({"mlflow_run_id": 123, "tracking_uri": "file:///x"}, "mlflow_run_id"),
                        ({"mlflow_run_id": "abc", "tracking_uri": ""}, "tracking_uri"),
                        ({"mlflow_run_id": "abc"}, "tracking_uri")):
        (tmp_path / "mlflow.json").write_text(json.dumps(record))
        with pytest.raises(RunError, match=f"mlflow.json: its {key} is .*, not the MLflow run"):
            run.read_tracking()
    gone = tmp_path / "gone" / "mlruns"
    with pytest.raises(DlcourseError, match="its store, file://.*/gone/mlruns, is gone"):
        Tracker(MlflowConfig(), name="x", resume_id="abc", uri=gone.as_uri())
    assert not (tmp_path / "gone").exists()
