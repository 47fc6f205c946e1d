"""Data-parallel training: TF_CONFIG checks, the Keras shim's guard, and real local clusters.

The cluster tests start worker processes on free loopback ports (127.0.0.1 only), as a
launcher would on several machines, and end every process they start.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import dlcourse
from dlcourse.cli import main
from dlcourse.config import load_config
from dlcourse.distribution import Task, peer_failure_reason, read_tf_config
from dlcourse.errors import ConfigError, DistributionError
from dlcourse.rundir import find_runs

from helpers import ROOT, write_mnist

MNIST = ROOT / "configs" / "mnist_cnn.yaml"
WORKER = Path(__file__).with_name("distributed_worker.py")
# Three epochs so a worker can die at the start of the third, after two are backed up.
TINY = {
    "data.limit": 48,
    "fit.epochs": 3,
    "fit.batch_size": 16,
    "output.plots": False,
    "distribution.timeout_seconds": 60,
}
# How long a surviving worker may take to notice a dead peer and exit (measured: ~10 s).
LOST_WORKER_EXIT_SECONDS = 60


def tf_config(cluster, task_type="worker", index=0) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


# --------------------------------------------------------------------------- TF_CONFIG


def test_tf_config_names_this_workers_place():
    task = read_tf_config(tf_config({"worker": ["a:1", "b:2", "c:3"]}, index=2))
    assert task == Task({"worker": ("a:1", "b:2", "c:3")}, "worker", 2)
    assert task.workers == 3 and not task.is_chief


def test_worker_zero_is_the_chief_unless_the_cluster_has_one():
    assert read_tf_config(tf_config({"worker": ["a:1", "b:2"]})).is_chief
    cluster = {"chief": ["c:1"], "worker": ["a:1", "b:2"]}
    assert not read_tf_config(tf_config(cluster)).is_chief
    assert read_tf_config(tf_config(cluster, "chief", 0)).is_chief


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "TF_CONFIG environment variable, which is not set"),
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "needs a 'cluster' mapping"),
        ('{"cluster": {"worker": ["a:1"]}}', "needs a 'task'"),
        (tf_config({"worker": ["a:1", "b:2"]}, index=2), "task index 2 is out of range"),
        (tf_config({"worker": ["a:1"]}, index=-1), "task index -1 is out of range"),
        (tf_config({"worker": ["a:1"]}, "chief", 0), "task type 'chief' has no entry"),
        (tf_config({"chief": ["a:1", "b:2"]}, "chief", 0), "at most one chief"),
        (tf_config({"worker": ["a:1"], "ps": ["b:2"]}), "runs only 'chief' and 'worker'"),
        (tf_config({"worker": []}), "non-empty list of host:port"),
        (tf_config({"worker": ["a"]}), "expected 'host:port'"),
        (tf_config({"worker": ["a:1", "a:1"]}), "a:1 is listed more than once"),
    ],
)
def test_malformed_tf_config_is_explained_before_training(text, message):
    with pytest.raises(DistributionError, match=message):
        read_tf_config(text)


def test_bad_tf_config_stops_the_cli_before_training(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}}')
    result = CliRunner().invoke(
        main,
        ["train", str(MNIST), "--strategy", "multi_worker", "--data-dir", str(data_dir),
         "--output-dir", str(tmp_path / "runs")],
    )
    assert result.exit_code == 2
    assert "Error: TF_CONFIG needs a 'task'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "runs").exists()


def test_distribution_settings_must_match_the_strategy():
    with pytest.raises(ConfigError, match="logical_cpu_devices applies to strategy mirrored"):
        load_config(MNIST, {"distribution.logical_cpu_devices": 2})
    with pytest.raises(ConfigError, match="communication applies to strategy multi_worker"):
        load_config(MNIST, {"distribution.communication": "ring"})
    with pytest.raises(ConfigError, match="distribution.strategy: expected one of"):
        load_config(MNIST, {"distribution.strategy": "tpu"})
    # 2,000 devices hung the run for minutes, its memory past 4.8 GB; a batch smaller than
    # the devices was TensorFlow's traceback ("AddN must have the same size").
    mirrored = {"distribution.strategy": "mirrored"}
    with pytest.raises(ConfigError, match="logical_cpu_devices: expected a value <= 64"):
        load_config(MNIST, {**mirrored, "distribution.logical_cpu_devices": 2000})
    with pytest.raises(ConfigError, match=re.escape(
            "fit.batch_size: 32, fewer examples than the 48 devices")):
        load_config(MNIST, {**mirrored, "distribution.logical_cpu_devices": 48,
                            "fit.batch_size": 32})


def test_the_reason_for_a_lost_worker_is_the_telling_line():
    text = (
        "Graph execution error:\n\nDetected at node CollectiveReduceV2 defined at:\n"
        "Collective ops is aborted by: Error reported from /job:worker/task:1: The following "
        "tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\n"
    )
    reason = peer_failure_reason(text)
    assert reason.endswith("unhealthy (stopped sending heartbeats): /job:worker/replica:0/task:1")
    # What worker 1 sees when the chief, worker 0, is killed.
    text = (
        "Graph execution error:\n\nDetected at node CollectiveReduceV2 defined at:\n"
        "Socket closed\nAdditional GRPC error information from remote target "
        "/job:worker/replica:0/task:0 while calling /tensorflow.WorkerService/RecvBuf:\n"
        ':UNKNOWN:Error received from peer  {grpc_status:14, grpc_message:"Socket closed"}\n'
    )
    assert "from remote target /job:worker/replica:0/task:0" in peer_failure_reason(text)


# --------------------------------------------------------------------------- the Keras shim


def test_the_keras_shim_refuses_unverified_keras_versions(monkeypatch):
    import keras

    from dlcourse import keras_multi_worker

    monkeypatch.setattr(keras, "version", lambda: "3.99.0")
    with pytest.raises(DistributionError, match="verified only on Keras 3.15.1; this is Keras 3.99.0"):
        keras_multi_worker.apply_multi_worker_shim()


def test_the_keras_shim_leaves_other_strategies_alone():
    """Patched functions defer to Keras's own code unless the strategy spans workers."""
    import tensorflow as tf

    from dlcourse.keras_multi_worker import _reduce_per_replica

    calls = []
    reduce = _reduce_per_replica(lambda *args: calls.append(args) or "keras's own")
    strategy = tf.distribute.get_strategy()
    assert reduce({"loss": 1.0}, strategy, "auto") == "keras's own" and len(calls) == 1


# --------------------------------------------------------------------------- local clusters


def free_ports(count: int) -> list[int]:
    """Ports the OS says are free on loopback; released just before the workers bind them."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Worker:
    def __init__(self, index: int, process: subprocess.Popen, log: Path, result: Path):
        self.index, self.process, self.log, self.result = index, process, log, result

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.process.poll() is None, f"worker {self.index} ended:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} from worker {self.index}"
            time.sleep(0.1)

    def weights(self) -> list[np.ndarray]:
        with np.load(self.result) as saved:
            return [saved[f"weight_{index}"] for index in range(len(saved.files) - 1)]


@contextlib.contextmanager
def cluster(directory: Path, data_dir: Path, overrides: dict, count: int = 2,
            per_worker: dict[int, dict] | None = None):
    """`count` worker processes on loopback, each with its own output dir; all ended after.
    `per_worker` gives some workers overrides of their own."""
    directory.mkdir(parents=True, exist_ok=True)
    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    settings = [f"{key}={value}" for key, value in overrides.items()]
    workers: list[Worker] = []
    try:
        for index in range(count):
            env = {
                **os.environ,
                "TF_CONFIG": tf_config({"worker": addresses}, "worker", index),
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "TMPDIR": str(_made(directory / f"tmp{index}")),
            }
            log = directory / f"worker{index}.log"
            result = directory / f"worker{index}.npz"
            own = [f"{key}={value}" for key, value in (per_worker or {}).get(index, {}).items()]
            command = [sys.executable, WORKER, MNIST, data_dir, directory / f"out{index}", result,
                       "distribution.strategy=multi_worker", *settings, *own]
            with log.open("w") as handle:
                process = subprocess.Popen(
                    [str(part) for part in command], stdout=handle, stderr=subprocess.STDOUT, env=env
                )
            workers.append(Worker(index, process, log, result))
        yield workers
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait(timeout=30)


def _made(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def finish(workers: list[Worker], timeout: float = 150) -> None:
    for worker in workers:
        worker.process.wait(timeout=timeout)
        assert worker.process.returncode == 0, worker.output()


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    write_mnist(directory, train=48, test=16)
    return directory


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, mnist_dir):
    """One uninterrupted 2-worker run, compared by several tests."""
    directory = tmp_path_factory.mktemp("cluster")
    with cluster(directory, mnist_dir, TINY) as workers:
        finish(workers)
    return directory, workers


@pytest.fixture(scope="module")
def single_process(tmp_path_factory, mnist_dir):
    """The same config on one process, the reference for the distributed losses."""
    output = tmp_path_factory.mktemp("single")
    return dlcourse.train(MNIST, TINY, data_dir=mnist_dir, output_dir=output)


@pytest.mark.slow
@pytest.mark.cluster
def test_workers_end_with_identical_weights(two_workers):
    _, (chief, other) = two_workers
    for mine, theirs in zip(chief.weights(), other.weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.slow
@pytest.mark.cluster
def test_two_workers_lose_what_one_process_loses_at_the_same_global_batch(
    two_workers, single_process
):
    _, (chief, _) = two_workers
    with np.load(chief.result) as saved:
        distributed_loss = saved["loss"]
    assert len(distributed_loss) == TINY["fit.epochs"]
    np.testing.assert_allclose(distributed_loss, single_process.history["loss"], rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.cluster
def test_only_the_chief_writes_a_run(two_workers):
    directory, (chief, other) = two_workers
    (run,) = find_runs(directory / "out0")
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
    assert (run / "model.keras").is_file() and (run / "report.html").is_file()
    # The other worker's scratch run directory and both backups are gone.
    left = [path for path in directory.rglob("*") if path.is_file()]
    assert not [path for path in left if "out1" in path.parts or path.parent.name.startswith("tmp")]
    assert not (directory / "out0" / "mnist_cnn" / ".cluster-backups").exists()
    assert "the chief wrote" not in other.output()  # the API doesn't print; the CLI does


@pytest.mark.slow
@pytest.mark.cluster
def test_a_dead_worker_stops_the_other_and_a_restarted_cluster_resumes(
    tmp_path, mnist_dir, two_workers
):
    with cluster(tmp_path, mnist_dir, TINY) as (chief, other):
        other.wait_for("Epoch 3/", timeout=150)
        other.process.kill()
        killed = time.monotonic()
        chief.process.wait(timeout=LOST_WORKER_EXIT_SECONDS)
        exit_seconds = time.monotonic() - killed
    print(f"the surviving worker exited {exit_seconds:.1f} s after its peer was killed")
    assert chief.process.returncode == 4, chief.output()
    assert "Error: worker 0 stopped: another worker died or can't be reached" in chief.output()
    (failed,) = find_runs(tmp_path / "out0")
    assert json.loads((failed / "status.json").read_text())["epochs_completed"] == 2

    with cluster(tmp_path, mnist_dir, TINY) as resumed:
        finish(resumed)
    _, uninterrupted = two_workers
    for worker in resumed:
        assert "Epoch 3/" in worker.output() and "Epoch 1/" not in worker.output()
        for mine, theirs in zip(worker.weights(), uninterrupted[0].weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)


@pytest.mark.slow
@pytest.mark.cluster
def test_workers_with_different_configs_refuse_before_training(tmp_path, mnist_dir):
    # Same steps, a different learning rate: without the check both would train and the
    # chief would write a "finished" run of a computation nobody asked for.
    with cluster(tmp_path, mnist_dir, TINY,
                 per_worker={1: {"compile.optimizer": "{name: rmsprop, learning_rate: 0.01}"}}
                 ) as workers:
        for worker in workers:
            worker.process.wait(timeout=120)
    for worker in workers:
        assert worker.process.returncode == 2, worker.output()
        assert "the workers don't agree on compile" in worker.output()
        assert "Epoch 1/" not in worker.output()
    assert not find_runs(tmp_path / "out0")


@pytest.mark.slow
@pytest.mark.cluster
def test_mirrored_strategy_on_two_logical_cpus(mnist_dir, tmp_path, single_process):
    settings = [f"--set={key}={value}" for key, value in TINY.items()]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TF_CONFIG", None)
    finished = subprocess.run(
        [sys.executable, "-m", "dlcourse", "train", MNIST, *settings, "--strategy", "mirrored",
         "--set", "distribution.logical_cpu_devices=2", "--data-dir", mnist_dir,
         "--output-dir", tmp_path / "runs"],
        capture_output=True, text=True, env=env, timeout=150,
    )
    assert finished.returncode == 0, finished.stderr
    assert "mirrored over 2 local devices" in finished.stderr
    (run,) = find_runs(tmp_path / "runs")
    history = json.loads((run / "history.json").read_text())
    np.testing.assert_allclose(history["loss"], single_process.history["loss"], rtol=0, atol=1e-5)
