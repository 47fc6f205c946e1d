"""MLflow tracking (`--track mlflow`, or `output.mlflow` in a config), through MLflow's
tracking API rather than `mlflow.keras.autolog`, whose Keras range may not cover ours.

A run logs its resolved config as params, every epoch's metrics, the test metrics, and its
run directory as artifacts. A tuning logs a parent run with each trial nested under it.
The store defaults to ./mlruns, so nothing needs a server. Tracking never costs a result:
the run directory is written first, and a failure to log is a warning, not an error.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import sys
import time
import urllib.parse
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

import keras

from dlcourse import extras
from dlcourse.config import Config
from dlcourse.errors import DlcourseError

DEFAULT_STORE = "mlruns"
# What MLflow reads as a store, not a folder: a Databricks workspace became ./databricks.
MLFLOW_STORE_NAMES = ("databricks", "databricks-uc")
# How long a tracking server may take to accept a connection before it is called absent.
CONNECT_SECONDS = 5
# MLflow refuses longer param values.
LONGEST_PARAM = 6000


class TrackingError(DlcourseError):
    """The MLflow store can't be reached or written."""


def _check_answers(uri: str) -> None:
    """An HTTP tracking server that takes no connection is said at once: MLflow's client
    retries each request with backoff for over four minutes (meant for a server's rate
    limits), and the run sat silent before its refusal."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    try:
        address = (parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
        socket.create_connection(address, timeout=CONNECT_SECONDS).close()
    except (OSError, ValueError) as error:  # ValueError: a port that is no number
        raise TrackingError(f"Can't track with MLflow at {uri}: no server answers there "
                            f"({error}). Start it (mlflow server), or check "
                            "output.mlflow.tracking_uri, or train without --track.") from None


def _store_exists(uri: str) -> bool:
    """Whether a file store is there; other stores (servers) are asked by MLflow."""
    if not uri.startswith("file:"):
        return True
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    return Path(url2pathname(urlparse(uri).path)).is_dir()


def store_uri(tracking_uri: str | None) -> str:
    """A URI for MLflow: the config's, else $MLFLOW_TRACKING_URI, else ./mlruns; a plain
    path becomes an absolute file URI."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    if "://" in uri or uri.startswith("file:") or uri in MLFLOW_STORE_NAMES:
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def flat_params(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """The config as MLflow params: one per leaf, keyed by its dotted path."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flat_params(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and all(isinstance(i, (Mapping, list)) for i in value):
        for index, item in enumerate(value):
            yield from flat_params(item, f"{prefix}.{index}")  # MLflow keys take no brackets
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        yield prefix, text[:LONGEST_PARAM]


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


@contextlib.contextmanager
def ended_on_error(tracker: Tracker | None) -> Iterator[None]:
    """End `tracker`'s MLflow run as killed or failed when the work inside raises."""
    try:
        yield
    except BaseException as error:
        if tracker is not None:  # training's RunInterrupted is a KeyboardInterrupt too
            tracker.end("interrupted" if isinstance(error, KeyboardInterrupt) else "failed")
        raise


def with_tracking(config: Config) -> Config:
    """`config` tracked in MLflow (--track mlflow): its own output.mlflow if it has one."""
    if config.output.mlflow is not None:
        return config
    from dlcourse.config.sections import MlflowConfig

    output = config.output.model_copy(update={"mlflow": MlflowConfig()})
    return config.model_copy(update={"output": output})


class Tracker:
    """One MLflow run, opened at start (or again, for a resumed run) and ended at finish."""

    def __init__(self, settings, *, name: str, resume_id: str | None = None,
                 parent: Tracker | None = None, uri: str | None = None):
        """`name`: the config's; it names the experiment unless `settings` does. A run
        with a `parent` (a tuning's trial) is nested under it, in its experiment. `uri`:
        the store a resumed run was logged to, wherever the command runs from now."""
        extras.require("mlflow", "Tracking with MLflow")
        import mlflow

        self.settings, self.nested = settings, parent is not None
        self.uri = uri or store_uri(settings.tracking_uri)
        if self.uri.startswith("file:"):
            # MLflow 3 keeps its file store in maintenance mode and refuses it unless asked;
            # a folder is what lets tracking work with no server and no database.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self._warned = False
        if resume_id is not None and not _store_exists(self.uri):
            # MLflow makes a file store it can't find: an empty one, and then no run in it.
            raise TrackingError(f"Can't go on logging to MLflow run {resume_id}: its store, "
                                f"{self.uri}, is gone; put it back to resume the run.")
        _check_answers(self.uri)
        try:
            self.client = mlflow.MlflowClient(tracking_uri=self.uri)
            if resume_id is not None:
                self.run_id = resume_id
                self.experiment_id = self.client.get_run(resume_id).info.experiment_id
                self.client.update_run(resume_id, status="RUNNING")
                return
            tags = {"mlflow.runName": name}
            if parent is not None:
                tags["mlflow.parentRunId"] = parent.run_id
                experiment = parent.experiment_id
            else:
                experiment = self._experiment(settings.experiment or name)
            created = self.client.create_run(experiment, tags=tags)
            self.run_id, self.experiment_id = created.info.run_id, created.info.experiment_id
        except Exception as error:  # MLflow's own errors: a bad URI, no server, no permission
            if resume_id is not None:  # its config and store are the run's: nothing to drop
                raise TrackingError(f"Can't go on logging to MLflow run {resume_id} at "
                                    f"{self.uri} ({error}), where the run was tracked; make "
                                    "that store reachable again to resume it.") from None
            raise TrackingError(f"Can't track with MLflow at {self.uri} ({error}). Check "
                                "output.mlflow.tracking_uri, or train without --track.") from None

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found else self.client.create_experiment(name)

    def _logged(self, what: str, call, *args, **kwargs) -> None:
        """MLflow may fail mid-run (a server gone): say so once, and train on."""
        try:
            call(*args, **kwargs)
        except Exception as error:
            if not self._warned:
                print(f"Warning: MLflow didn't take the {what} ({error}); the run directory "
                      "has everything.", file=sys.stderr)
                self._warned = True

    def log_config(self, config: Config) -> None:
        self.log_params(config.model_dump(mode="json", exclude_none=True))

    def log_params(self, values: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        # MLflow keys take no brackets: a searched path's layers[1] is layers.1 there too.
        params = [Param(re.sub(r"\[(\d+)\]", r".\1", key), value)
                  for key, value in flat_params(dict(values))]
        for start in range(0, len(params), 100):  # MLflow takes 100 params a call
            self._logged("params", self.client.log_batch, self.run_id,
                         params=params[start:start + 100])

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(key, value, now, step or 0) for key, value in _finite(metrics).items()]
        if batch:
            self._logged("metrics", self.client.log_batch, self.run_id, metrics=batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._logged("tags", self.client.set_tag, self.run_id, key, str(value))

    def start_run(self, config: Config, run_dir: Path) -> None:
        self.set_tags({"mlflow.runName": f"{config.name} {run_dir.name}",
                       "dlcourse.run_dir": str(run_dir.resolve())})
        self.log_config(config)

    def finish_run(self, metrics: Mapping[str, Any], directory: Path) -> None:
        """A finished run: its test metrics, its directory as artifacts, the end."""
        self.log_metrics({key: value for key, value in metrics.items()
                          if key.startswith(("test_", "best_", "restored_", "baseline_"))})
        self.log_directory(directory)
        self.end("finished")
        if not self.nested:  # a tuning's trials are told as trials
            print(f"Logged to MLflow: run {self.run_id} at {self.uri}", file=sys.stderr)

    def log_directory(self, directory: Path) -> None:
        """The run's files, but its hidden ones: the lock other commands take, a backup or
        a partial file are the run's machinery, not its results."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for entry in sorted(directory.iterdir()):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    self._logged("run directory", self.client.log_artifacts, self.run_id,
                                 str(entry), entry.name)
                else:
                    self._logged("run directory", self.client.log_artifact, self.run_id,
                                 str(entry))

    def end(self, status: str) -> None:
        """`status`: dlcourse's ("finished", "interrupted", "failed", ...)."""
        mlflow_status = {"finished": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")
        self._logged("end of the run", self.client.set_terminated, self.run_id, mlflow_status)

    def callback(self) -> keras.callbacks.Callback:
        return _EpochMetrics(self)


class _EpochMetrics(keras.callbacks.Callback):
    """Every epoch's logs as MLflow metrics, stepped by epoch (1 for the first)."""

    def __init__(self, tracker: Tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.tracker.log_metrics(logs or {}, step=epoch + 1)
