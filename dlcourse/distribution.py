"""Data-parallel training on several devices or machines, with TensorFlow's tf.distribute.

dlcourse runs Keras on its TensorFlow backend, so the engine is TensorFlow's own: a
`MirroredStrategy` for the devices of one machine, a `MultiWorkerMirroredStrategy` for
several processes or machines. (Keras's backend-neutral `keras.distribution` API runs on
JAX only; using it would mean a second backend for one feature.)

The rules every strategy follows here:
- the strategy exists before TensorFlow runs its first op (collective ops and logical
  devices can only be configured at start-up), so `distributed` wraps the whole run;
- the model is built and compiled in the strategy's scope;
- `fit.batch_size` is the global batch; Keras's array adapter shards in-memory arrays by
  data (`AutoShardPolicy.DATA`), so each worker takes its own slice of every batch;
- every worker seeds identically and runs the same code, but only the chief writes the
  run directory: the others write into a temporary directory removed at the end;
- each worker keeps its own BackupAndRestore directory, so a cluster restarted with the
  same command continues from its last completed epoch;
- a lost worker stops the others with `WorkerLost` instead of leaving them waiting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from dlcourse.config import DistributionConfig
from dlcourse.errors import DistributionError, one_line
from dlcourse.rundir import cluster_backup_dir, create_run_dir

TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)
# The only roles MultiWorkerMirroredStrategy runs; "ps" and "evaluator" belong elsewhere.
ROLES = ("chief", "worker")


class WorkerLost(DistributionError):
    """Another worker died or became unreachable; this one stopped instead of waiting."""

    exit_code = 4


# --------------------------------------------------------------------------- TF_CONFIG


@dataclass(frozen=True)
class Task:
    """This process's place in the cluster that TF_CONFIG describes."""

    cluster: dict[str, tuple[str, ...]]
    type: str
    index: int

    @property
    def is_chief(self) -> bool:
        # TensorFlow's convention: the "chief" task if there is one, else worker 0.
        if "chief" in self.cluster:
            return self.type == "chief"
        return self.index == 0

    @property
    def workers(self) -> int:
        return sum(len(addresses) for addresses in self.cluster.values())

    @property
    def name(self) -> str:
        return f"{self.type} {self.index}"


def read_tf_config(text: str | None) -> Task:
    """Parse and check TF_CONFIG; every inconsistency is a DistributionError, before training."""
    if not text or not text.strip():
        raise DistributionError(
            "strategy multi_worker reads the cluster from the TF_CONFIG environment variable, "
            f"which is not set. Set it on every worker, e.g. TF_CONFIG='{TF_CONFIG_EXAMPLE}' "
            "with a different task index on each (see docs/distributed.md, 'On two machines, by hand')."
        )
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise DistributionError(f"TF_CONFIG is not valid JSON ({error}).") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cluster"), dict):
        raise DistributionError(
            f"TF_CONFIG needs a 'cluster' mapping of roles to addresses, e.g. {TF_CONFIG_EXAMPLE}."
        )
    cluster = _checked_cluster(raw["cluster"])
    task = raw.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise DistributionError(
            "TF_CONFIG needs a 'task' with this process's 'type' and 'index', e.g. "
            '"task": {"type": "worker", "index": 0}.'
        )
    role, index = task["type"], task["index"]
    if role not in cluster:
        raise DistributionError(
            f"TF_CONFIG: task type {role!r} has no entry in the cluster, which has "
            f"{', '.join(sorted(cluster))}."
        )
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[role]):
        raise DistributionError(
            f"TF_CONFIG: task index {index!r} is out of range; the cluster has "
            f"{len(cluster[role])} {role} address(es), so the index is 0 to {len(cluster[role]) - 1}."
        )
    return Task(cluster, role, index)


def _checked_cluster(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    cluster: dict[str, tuple[str, ...]] = {}
    for role, addresses in raw.items():
        if role not in ROLES:
            raise DistributionError(
                f"TF_CONFIG: the cluster has a {role!r} role; multi_worker training runs "
                "only 'chief' and 'worker' tasks."
            )
        if not isinstance(addresses, list) or not addresses:
            raise DistributionError(f"TF_CONFIG: cluster.{role} must be a non-empty list of host:port.")
        for address in addresses:
            _check_address(role, address)
        cluster[role] = tuple(addresses)
    if "worker" not in cluster and "chief" not in cluster:
        raise DistributionError("TF_CONFIG: the cluster lists no workers.")
    if len(cluster.get("chief", ())) > 1:
        raise DistributionError("TF_CONFIG: a cluster has at most one chief.")
    everyone = [address for addresses in cluster.values() for address in addresses]
    repeated = sorted({address for address in everyone if everyone.count(address) > 1})
    if repeated:
        raise DistributionError(
            f"TF_CONFIG: {', '.join(repeated)} is listed more than once; each task needs its "
            "own host:port."
        )
    return cluster


def _check_address(role: str, address: Any) -> None:
    host, _, port = str(address).rpartition(":")
    if not isinstance(address, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributionError(
            f"TF_CONFIG: cluster.{role} has {address!r}; expected 'host:port', e.g. 'host1:12345'."
        )


# --------------------------------------------------------------------------- strategies


@dataclass
class Distribution:
    """How this process trains: its strategy (None: plainly) and, in a cluster, its task."""

    strategy: Any = None
    task: Task | None = None
    scratch: Path | None = field(default=None, init=False)
    backups: Path | None = field(default=None, init=False)

    @property
    def is_chief(self) -> bool:
        return self.task is None or self.task.is_chief

    def scope(self):
        """Where the model must be built and compiled so its variables are mirrored."""
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def create_run_dir(self, output_dir: str | Path, name: str) -> Path:
        """The run directory on the chief; a temporary one, removed at the end, elsewhere."""
        if self.is_chief:
            return create_run_dir(output_dir, name)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"dlcourse-{self.task.type}{self.task.index}-"))
        return self.scratch

    def callbacks(self, output_dir: str | Path, name: str) -> list:
        """Per-worker backups, so a restarted cluster resumes; nothing for one process.

        Workers sharing one backup directory would fight over its HDF5 file lock, and
        the directory must outlive a run directory, so it sits beside the runs.
        """
        if self.task is None:
            return []
        import keras

        backup = cluster_backup_dir(output_dir, name, f"{self.task.type}-{self.task.index}")
        self.backups = backup.parent
        return [keras.callbacks.BackupAndRestore(str(backup))]

    def finish(self) -> None:
        """Remove what only served this run: the scratch run dir, emptied backup dirs."""
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if self.backups is not None:
            # BackupAndRestore deletes its own directory once fit completes; the
            # parent goes with the last worker to finish, and never while it holds one.
            with contextlib.suppress(OSError):
                self.backups.rmdir()

    def local_copy(self, model, build: Callable[[], Any]):
        """The trained model outside the strategy, with its weights and optimizer state.

        Evaluation, prediction and saving then run on this process alone: no worker
        waits for another, and the saved model carries no trace of the cluster.
        """
        if self.strategy is None:
            return model
        copy = build()
        copy.set_weights(model.get_weights())
        if model.optimizer.built:
            copy.optimizer.build(copy.trainable_variables)
            for target, source in zip(copy.optimizer.variables, model.optimizer.variables):
                target.assign(source.numpy())
        return copy

    def check_agreement(self, parts: dict[str, str]) -> None:
        """Refuse to train unless every worker has the same `parts` (the config's sections,
        the data's signature): otherwise they would train, in lockstep and without error,
        a computation nobody asked for, or fail later with a misleading message.

        Each worker hashes its parts; the hashes are gathered from all workers with one
        collective, and any part on which they differ is named.
        """
        if self.task is None:
            return
        import tensorflow as tf

        names = sorted(parts)
        digests = tf.constant(
            [[int(hashlib.sha256(parts[name].encode()).hexdigest()[:15], 16) for name in names]],
            dtype=tf.int64,
        )
        values = self.strategy.experimental_distribute_values_from_function(lambda _: digests)
        gathered = self.strategy.gather(values, axis=0).numpy()
        differing = [name for column, name in enumerate(names)
                     if len(set(gathered[:, column].tolist())) > 1]
        if differing:
            raise DistributionError(
                f"{self.task.name}: the workers don't agree on {', '.join(differing)}. Start "
                "every worker with the same config, the same --set values and the same data; "
                "training with a mix would give a run of a computation nobody asked for."
            )

    def describe(self) -> str:
        replicas = self.strategy.num_replicas_in_sync
        if self.task is None:
            return f"Distributed training: mirrored over {replicas} local devices."
        role = "the chief, writes the run" if self.is_chief else "not the chief, writes no run"
        return (
            f"Distributed training: {self.task.name} of {self.task.workers} workers "
            f"({role}); {replicas} replicas in sync."
        )


@contextlib.contextmanager
def distributed(settings: DistributionConfig) -> Iterator[Distribution]:
    """Create the strategy before anything else touches TensorFlow; clean up after the run."""
    distribution = start(settings)
    try:
        yield distribution
    except Exception as error:
        if distribution.task is not None and is_peer_failure(error):
            raise WorkerLost(_lost_message(distribution, error)) from error
        raise
    finally:
        distribution.finish()


def start(settings: DistributionConfig) -> Distribution:
    if settings.strategy == "none":
        if os.environ.get("TF_CONFIG"):
            print(
                "Note: TF_CONFIG is set but distribution.strategy is none, so this process "
                "trains alone; use --strategy multi_worker to join the cluster.",
                file=sys.stderr,
            )
        return Distribution()
    if settings.strategy == "mirrored":
        distribution = Distribution(_mirrored_strategy(settings.logical_cpu_devices))
    else:
        task = read_tf_config(os.environ.get("TF_CONFIG"))
        from dlcourse.keras_multi_worker import apply_multi_worker_shim

        apply_multi_worker_shim()
        strategy = _multi_worker_strategy(
            settings.communication, settings.timeout_seconds, settings.startup_timeout_seconds
        )
        distribution = Distribution(strategy, task)
    print(distribution.describe(), file=sys.stderr)
    return distribution


def _mirrored_strategy(logical_cpu_devices: int | None):
    import tensorflow as tf

    if logical_cpu_devices is None:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy(devices=split_cpu(logical_cpu_devices))


def split_cpu(count: int) -> list[str]:
    """Make the CPU appear as `count` devices; possible only before TensorFlow starts."""
    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError:
        pass  # already started: fine if it was split the same way before
    devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    if len(devices) != count:
        raise DistributionError(
            f"distribution.logical_cpu_devices: TensorFlow had already started with "
            f"{len(devices)} CPU device(s) in this process, so it can't split the CPU into "
            f"{count}. Train in a fresh process (e.g. the dlcourse command)."
        )
    return devices


@lru_cache(maxsize=None)
def _multi_worker_strategy(communication: str, timeout_seconds: int, startup_timeout_seconds: int):
    """One per process: TensorFlow configures collective ops once, at start-up."""
    import tensorflow as tf

    implementation = tf.distribute.experimental.CommunicationImplementation
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=implementation.RING if communication == "ring" else implementation.AUTO,
        timeout_seconds=timeout_seconds,
    )
    try:
        with _exit_unless_done_within(startup_timeout_seconds):
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as error:
        raise DistributionError(
            f"strategy multi_worker: TensorFlow had already started in this process "
            f"({error}). Start training in a fresh process (e.g. the dlcourse command)."
        ) from None


@contextlib.contextmanager
def _exit_unless_done_within(seconds: int) -> Iterator[None]:
    """Bound the constructor's wait for the other workers, which TensorFlow doesn't.

    It blocks in C++ holding the GIL until every worker in TF_CONFIG is up: no Python
    timer or signal handler runs, and SIGTERM is ignored. SIGALRM's default action,
    termination, still works, so the message is printed before the wait begins.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signals can only be set up from the main thread
        return
    print(
        f"Waiting for every worker in TF_CONFIG to start: at most {seconds} s "
        "(distribution.startup_timeout_seconds), then this process ends with status 142.",
        file=sys.stderr,
        flush=True,
    )
    previous = signal.signal(signal.SIGALRM, signal.SIG_DFL)
    # The CLI's SIGTERM handler (Ctrl-C's way out) can't run in that wait either: a `kill`
    # ends the process there, as it did before the handler, with nothing trained to keep.
    terminate = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if terminate is None else terminate)


def is_peer_failure(error: BaseException) -> bool:
    """Errors TensorFlow raises when a collective loses a peer or waits past its timeout."""
    import tensorflow as tf

    lost = (
        tf.errors.UnavailableError,
        tf.errors.DeadlineExceededError,
        tf.errors.CancelledError,
        tf.errors.AbortedError,
    )
    return isinstance(error, lost)


def _lost_message(distribution: Distribution, error: BaseException) -> str:
    return (
        f"{distribution.task.name} stopped: another worker died or can't be reached "
        f"({type(error).__name__}: {peer_failure_reason(str(error))}). Restart every worker "
        "with the same command; each continues from its last completed epoch."
    )


def peer_failure_reason(text: str) -> str:
    """The line of TensorFlow's long error text that says what happened to whom."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for word in PEER_FAILURE_WORDS:
        for position, line in enumerate(lines):
            if word in line.lower():
                if line.endswith(":") and position + 1 < len(lines):
                    line = f"{line} {lines[position + 1]}"
                return one_line(line, 300)
    return one_line(lines[0], 300) if lines else "no details"


# Words in TensorFlow's messages that name the failure, the most telling first.
PEER_FAILURE_WORDS = (
    "unhealthy", "remote target", "timed out", "timeout", "deadline", "socket", "connect"
)
