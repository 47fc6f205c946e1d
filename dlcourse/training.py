"""Training: seed, fit, evaluate on the test split, and leave a complete run directory.

The run directory is created only after the data and the model have been checked, so a
mistake in either costs seconds and leaves nothing behind. From then on one process holds
the run (an OS lock), the history is saved after every epoch, the backup after every
epoch, and the status file always says how the run ended. A run ends `finished` only once
every result is on disk; its backup is removed after that, never before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlcourse import reports
from dlcourse.backup import RunBackup, restore, resumed_line
from dlcourse.callbacks import (
    CtrlCEndsTheFit,
    EpochRecorder,
    StopIfDiverged,
    config_callbacks,
    restored_epoch,
)
from dlcourse.config import Config, Origin, family
from dlcourse.data import Dataset, data_record
from dlcourse.data.imdb import IMDB_WORD_INDEX_FILE, load_word_index
from dlcourse.data.memory import SOURCE as MEMORY_SOURCE
from dlcourse.distribution import Distribution, distributed
from dlcourse.errors import DataError, DlcourseError, ResumableInterrupt, RunError, one_line
from dlcourse.evaluation import evaluate_model, write_evaluation_files
from dlcourse.interrupts import signals_ignored
from dlcourse.execution import compile_notice, fit_inputs, validation_cut
from dlcourse.models import keras_refusals_named, names_counted_afresh
from dlcourse.preflight import recorded_data_dir, resumable_config, whole_fingerprint
from dlcourse.preparation import Prepared, memory_record, prepare, run_dataset
from dlcourse.rundir import RunDir
from dlcourse.tracking import Tracker, ended_on_error, store_uri
from dlcourse.version import __version__


class RunInterrupted(ResumableInterrupt):
    """Ctrl-C stopped a run; it knows its directory, so the CLI can say how to resume."""

    def __init__(self, run_dir: Path, from_python: bool = False):
        # A run on data given from Python resumes only with that data given again.
        super().__init__(run_dir, "the run so far is", "dlcourse.resume",
                         "dlcourse train --resume",
                         ", train=(x_train, y_train), test=(x_test, y_test)" if from_python else "")
        self.run_dir = run_dir


class TrainingDiverged(DlcourseError):
    """The loss became NaN or infinite; the run stopped at that epoch."""

    exit_code = 3


@dataclass(frozen=True)
class TrainResult:
    """What a training run returns: where it wrote, what it measured, the trained model.

    In a notebook it shows itself: the headline figures, the published result beside the
    measured one, and the curves.
    """

    run_dir: Path
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    model: keras.Model
    # False on the workers of a cluster that aren't the chief: their run_dir is gone.
    is_chief: bool = True

    def history_frame(self):
        """The history as a pandas DataFrame, one row per epoch (pandas must be installed)."""
        return history_frame(self.history)

    def _repr_html_(self) -> str:
        return reports.result_html(self._name, str(self.run_dir), self.metrics,
                                   RunDir(self.run_dir).plot_images())

    def __repr__(self) -> str:
        return reports.result_repr("TrainResult", self._name, str(self.run_dir),
                                   reports.figures_text(self.metrics,
                                                        [key for _, key in reports.HEADLINE]))

    @property
    def _name(self) -> str:
        return str(self.metrics.get("config", self.run_dir.parent.name))


def history_frame(history: dict[str, list[float]]):
    try:
        import pandas
    except ImportError:
        raise DlcourseError("history_frame() needs pandas: pip install pandas "
                            "(the history is a plain dict in .history too).") from None
    frame = pandas.DataFrame(history)
    frame.index = pandas.RangeIndex(1, len(frame) + 1, name="epoch")
    return frame


@contextlib.contextmanager
def as_in_a_fresh_process(config: Config):
    """A run as the command line starts it in a process of its own: seeded, with op
    determinism as the config says, and Keras's names counted afresh. And the notebook
    around it left as it was, also after an error or Ctrl-C: seeding made every later
    random.random() and np.random.choice repeat itself run after run, and what the run
    named (its optimizer, its metrics) took up the user's Keras counts. TensorFlow's and
    Keras's own global seeds stay the run's: only their private APIs read them back."""
    from tensorflow.python.framework import config as tf_config

    states = random.getstate(), np.random.get_state()
    deterministic = tf_config.is_op_determinism_enabled()
    try:
        with names_counted_afresh():
            seed_everything(config)
            yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        if tf_config.is_op_determinism_enabled() != deterministic:
            tf_config.enable_op_determinism() if deterministic else tf_config.disable_op_determinism()


def seed_everything(config: Config) -> None:
    """Seed Python, NumPy and the backend; make TensorFlow's ops deterministic as the
    config says. Determinism is the process's: a deterministic run earlier in it (in a
    notebook, say) would leave the next run slower, and without XLA, which Keras turns
    off under it, so it is turned off again for a run that doesn't ask for it."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # its off switch

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    elif tf_config.is_op_determinism_enabled():
        tf_config.disable_op_determinism()


def train_and_evaluate(
    config: Config,
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    dataset: Dataset | None = None,
    origin: Origin | None = None,
) -> TrainResult:
    """Train `config`'s model, evaluate it on the test split, and write a run directory.

    `dataset` replaces loading the config's data (data given from Python). `origin` says
    which file and command-line changes the config came from, for the run's record. With
    `distribution.strategy` set, the same code runs data-parallel through tf.distribute
    (see dlcourse/distribution.py).
    """
    origin = origin or Origin(reduced=(f"data.limit={config.data.limit}",) if config.data.limit else ())
    data_dir = data_dir if data_dir is not None else config.data.dir
    given = dataset
    if given is not None:
        origin = replace(origin, other_data=("data given from Python",))
    with distributed(config.distribution) as distribution, as_in_a_fresh_process(config):
        prepared = prepare(config, data_dir, dataset=dataset, scope=distribution.scope())
        distribution.check_agreement(_what_workers_share(prepared))
        output_dir = output_dir or config.output.dir
        # Before the run directory: a store that can't be reached leaves no empty run.
        tracker = _tracker(config, distribution)
        run = RunDir(distribution.create_run_dir(output_dir, config.name))

        def write_what_the_run_starts_with() -> None:
            run.write_summary(prepared.summary())
            _keep_what_predict_needs(run, config, prepared.dataset, data_dir)
            run.write_data_record(
                memory_record(prepared.dataset) if given is not None
                else data_record(config.data, data_dir, prepared.dataset)
            )

        with run.training_lock():
            # The config first: from then on the directory is a run, if an unfinished one.
            run.write_config(config)
            status = {"status": "running", "started": _now(),
                      "config_sha256": config_digest(config), **origin.record()}
            if tracker is not None:
                run.write_tracking({"mlflow_run_id": tracker.run_id, "tracking_uri": tracker.uri})
                tracker.start_run(config, run.path)
            with ended_on_error(tracker):
                return _fit_and_finish(prepared, run, status, EpochRecorder(run.write_history),
                                       distribution, output_dir,
                                       setup=write_what_the_run_starts_with, tracker=tracker)


def resume_and_evaluate(
    run_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    config: Config | None = None,
    memory: tuple[Any, Any] | None = None,
) -> TrainResult:
    """Continue a killed, interrupted or failed run from its last backed-up epoch.

    The run's own config.yaml is used; `config`, if given, must be the same. The run
    finishes in `run_dir`, as if it had never stopped. `memory` is (train, test) again
    for a run trained on data given from Python.
    """
    run = RunDir(run_dir).require()
    with run.training_lock():
        run.remove_partial_files()  # what a killed process left half-written
        saved = resumable_config(run, config)
        recorded = run.read_status().get("config_sha256")
        if recorded is not None and recorded != config_digest(saved):
            raise RunError(
                f"{run.config_path} was changed after the run started, so its "
                "backup belongs to another experiment. Train the changed config as a new "
                "run, or put the file back as it was."
            )
        if saved.distribution.strategy == "multi_worker":
            raise RunError(
                f"{run.path} was trained by a cluster: restart every worker with the same "
                "command and each resumes from its own backup (see docs/distributed.md)."
            )
        given, data_dir = data_dir, recorded_data_dir(run, data_dir)
        with distributed(saved.distribution) as distribution, as_in_a_fresh_process(saved):
            # The resumed epochs must see what the first ones saw: the saved vocabulary.
            dataset = run_dataset(run, saved, data_dir, memory=memory, command="resume")
            if given is not None and memory is None:
                _record_resumed_data(run, saved, given, dataset)
            prepared = prepare(saved, dataset=dataset, scope=distribution.scope())
            status = _resumed_status(run.read_status())
            recorder = EpochRecorder(run.write_history, run.read_history())
            # The MLflow run it started with goes on, as the run directory does.
            tracker = _tracker(saved, distribution, run.read_tracking())
            with ended_on_error(tracker):
                return _fit_and_finish(prepared, run, status, recorder, distribution,
                                       saved.output.dir, resuming=True, tracker=tracker)


def _fit_and_finish(
    prepared: Prepared,
    run: RunDir,
    status: dict[str, Any],
    recorder: EpochRecorder,
    distribution: Distribution,
    output_dir: str | Path,
    resuming: bool = False,
    setup=None,
    tracker: Tracker | None = None,
) -> TrainResult:
    config, dataset, model = prepared.config, prepared.dataset, prepared.model
    # Who is training, for people reading the status; the lock is what keeps others out.
    status.update(pid=os.getpid(), host=platform.node())
    try:
        run.write_status(status)
        if setup is not None:
            setup()
        inputs = fit_inputs(config, dataset, prepared.plan)
        watched = config_callbacks(config)
        restored = None
        if resuming:
            epochs_recorded = len(recorder.history.get("loss", []))
            restored = restore(model, run, epochs_recorded, inputs.steps_per_epoch, watched)
            print(resumed_line(run, restored, epochs_recorded, config.fit.epochs), flush=True)
        initial_epoch = restored.epochs if restored else 0
        # One process keeps its backup in the run; a cluster keeps one per worker.
        backups = (distribution.callbacks(output_dir, config.name)
                   or [RunBackup(run, watched, restored)])
        ctrl_c = CtrlCEndsTheFit()
        callbacks = [ctrl_c, *inputs.callbacks,
                     *_callbacks(config, run, recorder, watched, backups)]
        if tracker is not None:
            callbacks.append(tracker.callback())
        notice = compile_notice(prepared.plan, inputs)
        if notice:
            print(notice, flush=True)
        # A run whose EarlyStopping had already stopped it trains no further epoch: the
        # fit only ends (and puts the best epoch's weights back).
        epochs = initial_epoch if restored and restored.stopped_early else config.fit.epochs
        with ctrl_c.heard(), keras_refusals_named(config, model, "in training"):
            fit_seconds = _fit(model, inputs.arguments, callbacks, initial_epoch, epochs)
        # A resumed run's training time holds the epochs of its earlier sessions too.
        fit_seconds += sum(recorder.history.get("epoch_seconds", [])[:initial_epoch])
        _stop_if_diverged(recorder.history, run.path)
        model = distribution.local_copy(model, prepared.build_again)
        evaluation = evaluate_model(model, config, dataset, prepared.plan)
        run.save_model(model)
        metrics = run_metrics(config, dataset, model, recorder.history, evaluation.metrics,
                              fit_seconds)
        metrics.update(execution=prepared.plan.describe(),
                       seconds_to_first_epoch=recorder.seconds_to_first_epoch,
                       **restored_epoch(watched))
        for key in ("reduced", "other_data"):
            if status.get(key):
                metrics[key] = status[key]
        metrics.update(evaluation.detail())
        run.write_metrics(metrics)
        if config.output.plots:
            validation = "Test split" if config.fit.validation == "test" else "Validation"
            curves = reports.curve_figures(recorder.history, validation,
                                           metrics.get("restored_epoch"))
            for plot, figure in curves.items():
                run.save_figure(figure, plot)
        write_evaluation_files(run, evaluation, dataset, plots=config.output.plots)
        _finish(run, status, "finished", recorder.history)
    except KeyboardInterrupt:
        # The status counts the epochs history.json holds: the Ctrl-C may have come
        # between an epoch's end and the recorder's save, so the history is saved again.
        history = recorder.whole_epochs()
        with signals_ignored():
            try:
                if history:
                    run.write_history(history)
            except OSError:
                pass  # the history.json of the epoch before stays, and the Ctrl-C is told
            _finish(run, status, "interrupted", history)
        raise RunInterrupted(run.path, dataset.source == MEMORY_SOURCE) from None
    except TrainingDiverged as error:
        _finish(run, status, "diverged", recorder.history, str(error))
        # A diverged run can't be resumed (it would diverge again): its backup is no use.
        run.remove_backup()
        raise
    except OSError as error:
        # Disk full, permission denied: the process survives, so the run says why it ended.
        message = _os_error_message(run, error)
        _finish_if_possible(run, status, recorder.history, message)
        raise RunError(message) from None
    except Exception as error:
        if _out_of_memory(error):
            message = _out_of_memory_message(run, config, error)
            _finish_if_possible(run, status, recorder.history, message)
            raise RunError(message) from None
        _finish_if_possible(run, status, recorder.history, f"{type(error).__name__}: {error}")
        raise
    # Only once the run says "finished" does its backup go: a kill in between leaves a
    # finished run with a stale backup, which resuming refuses; never a resumable run
    # without its weights.
    try:
        run.remove_backup()
        run.refresh_report()
    except OSError as error:
        print(f"Warning: the run finished, but tidying it failed ({error}); its results are "
              "all written.", file=sys.stderr)
    if tracker is not None:
        tracker.finish_run(metrics, run.path)
    # Absolute: a notebook that changes its directory still finds the run it trained.
    return TrainResult(run.path.absolute(), recorder.history, metrics, model,
                       distribution.is_chief)


def _tracker(config: Config, distribution: Distribution, recorded: dict | None = None
             ) -> Tracker | None:
    """The run's MLflow run when the config asks for one; a cluster's chief logs alone.
    `recorded` (a resumed run's mlflow.json) names the run and the store it went on: from
    another folder, or without the MLFLOW_TRACKING_URI it started with, the store was
    looked for anew, and the run not found."""
    if config.output.mlflow is None or not distribution.is_chief:
        return None
    recorded = recorded or {}  # checked by RunDir.read_tracking
    uri = recorded.get("tracking_uri")
    return Tracker(config.output.mlflow, name=config.name,
                   resume_id=recorded.get("mlflow_run_id"), uri=uri and store_uri(uri))


def _what_workers_share(prepared: Prepared) -> dict[str, str]:
    """The parts of a run every worker of a cluster must have alike (their output
    directories and cluster settings may differ)."""
    sections = prepared.config.model_dump(mode="json", exclude={"output", "distribution"})
    parts = {key: repr(value) for key, value in sections.items()}
    parts["the data"] = repr(prepared.signature) + repr(
        (len(prepared.dataset.x_train), len(prepared.dataset.x_test))
    )
    return parts


def _record_resumed_data(run: RunDir, config: Config, data_dir, dataset: Dataset) -> None:
    """--data-dir given to --resume: data.json then says where the rest of the run read
    its data, so evaluate finds it. Data whose files or sizes differ from what the first
    epochs read is refused: the run would learn from both, and its record of the first
    would be lost. Only other dates (a copy made without keeping them, or contents
    changed in place) are told, as a possibility."""
    recorded = run.read_data_record()
    before = recorded.get("files") or {}
    now = data_record(config.data, data_dir, dataset)
    if before:
        files = now.get("files", {})
        old, new = (sorted(map(tuple, found.values())) for found in (before, files))
        # A record from before 2026-12-06 counted every file of a folder, read or not.
        whole = sorted(tuple(whole_fingerprint(Path(path))) for path in files)
        alike = [taken for taken in (new, whole)
                 if [entry[:2] for entry in taken] == [entry[:2] for entry in old]]
        if not alike:
            where = recorded.get("data_dir") or recorded.get("source")
            raise RunError(
                f"--data-dir {data_dir}: its data differs from what {run.path} was trained on "
                f"so far (its files or sizes), so the run would learn from both. Give the data "
                f"it was trained on{f' (recorded: {where})' if where else ''}, or train a new "
                "run on this data.")
        if old not in alike:
            print(f"Note: the data in {data_dir} has the files and sizes {run.path} was "
                  "trained on, but other dates: a copy, or changed contents; if changed, the "
                  "run learns from both.", file=sys.stderr)
    run.write_data_record(now)


def config_digest(config: Config) -> str:
    """What a run's config.yaml holds, as a hash: resuming checks it was not edited."""
    return hashlib.sha256(config.to_yaml().encode("utf-8")).hexdigest()


def _os_error_message(run: RunDir, error: OSError) -> str:
    reason = error.strerror or str(error)
    return (f"Training {run.path} stopped: writing its files failed ({reason}"
            f"{': ' + str(error.filename) if error.filename else ''}). Free some space or "
            "fix the permissions, then continue with `dlcourse train --resume "
            f"{run.path}`.")


def _out_of_memory(error: Exception) -> bool:
    import tensorflow as tf

    return isinstance(error, (MemoryError, tf.errors.ResourceExhaustedError))


def _out_of_memory_message(run: RunDir, config: Config, error: Exception) -> str:
    """TensorFlow's OOM as a sentence: the config passes every check (the weights are
    bounded, not each batch's activations), and its traceback said nothing a user can act on."""
    # In a graph TensorFlow's first line is "Graph execution error:"; the cause is below.
    lines = str(getattr(error, "message", error)).splitlines()
    cause = next((line for line in lines if "OOM when allocating" in line), "")
    cause = re.sub(r"\{\{[^}]*\}\}", "", cause).strip()
    what = f" ({one_line(cause, 200)})" if cause else ""
    return (f"Training {run.path} ran out of memory{what}. A batch of {config.fit.batch_size} "
            "through these layers needs more than this machine has: train again with a lower "
            "fit.batch_size, or with smaller layers (filters, units, the image size).")


def _finish_if_possible(run: RunDir, status: dict, history: dict, error: str) -> None:
    """Remove what was half-written, then mark the run failed: on a full disk, removing
    first frees the space the status needs (and the status is rewritten in place if the
    disk is full still); if even that fails, the original error is what the user sees."""
    run.remove_partial_files()
    status.update(status="failed", ended=_now(), epochs_completed=len(history.get("loss", [])),
                  error=error)
    try:
        run.write_status(status, in_place_if_full=True)
    except OSError:
        pass


def _resumed_status(previous: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in previous.items()
            if key not in ("status", "ended", "error", "epochs_completed")}
    return {**kept, "status": "running", "resumed": [*previous.get("resumed", []), _now()]}


def _callbacks(
    config: Config, run: RunDir, recorder: EpochRecorder, watched: list, backups: list
) -> list[keras.callbacks.Callback]:
    # The recorder saves an epoch's history before the backup saves its weights, so a
    # kill between the two leaves history one epoch ahead, which resuming cuts off. The
    # config's callbacks come first, so the history has what they log (ReduceLROnPlateau's
    # learning_rate) and the backup saves what they concluded.
    callbacks = [*watched, recorder, StopIfDiverged(), *backups]
    if config.output.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.tensorboard_dir)))
    return callbacks


def _keep_what_predict_needs(run: RunDir, config: Config, dataset: Dataset, data_dir) -> None:
    """The class names, and for text the word index or the fitted vocabulary, so `predict`
    and `evaluate` prepare new inputs exactly as in training."""
    if dataset.class_names:
        run.write_classes(dataset.class_names)
    if dataset.vocabulary is not None:
        run.write_vocabulary(dataset.vocabulary)
    if family(config.data.dataset).inputs != "word_indices":
        return
    try:
        word_index = load_word_index(data_dir)
    except DataError as error:
        print("Warning: predict takes padded word indices (from Python) on this run, but not "
              f"raw text: {error}", file=sys.stderr)
        return
    run.write_word_index(word_index, config.data.num_words)
    if dataset.source == MEMORY_SOURCE:  # word indices from Python: whose words, unknown
        print("Note: `dlcourse predict` maps raw text to words with IMDB's word index "
              f"({IMDB_WORD_INDEX_FILE.filename}): right only if your arrays hold IMDB's word "
              "ranks, as keras.datasets.imdb gives them.", file=sys.stderr)


def _fit(model: keras.Model, inputs: dict[str, Any], callbacks: list, initial_epoch: int,
         epochs: int) -> float:
    started = time.perf_counter()
    model.fit(
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        # A live progress bar on a terminal; one line per epoch in logs and CI.
        verbose=1 if sys.stdout.isatty() else 2,
        **inputs,
    )
    return time.perf_counter() - started


def _stop_if_diverged(history: dict[str, list[float]], run_dir: Path) -> None:
    losses = history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise TrainingDiverged(
            f"Training diverged: the loss became {losses[-1]} at epoch {len(losses)}, so the "
            "run stopped there. Lower compile.optimizer.learning_rate and train again; the "
            f"history so far is in {run_dir}."
        )


def _finish(
    run: RunDir,
    status: dict[str, Any],
    outcome: str,
    history: dict[str, list[float]],
    error: str | None = None,
) -> None:
    status.update(status=outcome, ended=_now(), epochs_completed=len(history.get("loss", [])))
    if error:
        status["error"] = error
    run.write_status(status)


def run_metrics(
    config: Config,
    dataset: Dataset,
    model: keras.Model,
    history: dict[str, list[float]],
    test_metrics: dict[str, float],
    fit_seconds: float,
) -> dict[str, Any]:
    """Everything metrics.json records about a finished run."""
    train_samples = len(dataset.x_train)
    if config.fit.validation_split is not None:
        # Keras holds out the last fraction of the training arrays, unshuffled.
        train_samples = validation_cut(train_samples, config.fit.validation_split)
    epoch_seconds = history["epoch_seconds"]
    metrics: dict[str, Any] = {"config": config.name, **test_metrics}
    if "val_accuracy" in history:
        best = int(np.argmax(history["val_accuracy"]))
        metrics.update(
            best_val_accuracy=history["val_accuracy"][best],
            best_epoch=best + 1,
            final_val_accuracy=history["val_accuracy"][-1],
        )
    if config.task == "regression":
        metrics.update(regression_metrics(config, dataset, history, train_samples))
    metrics.update(
        epochs=len(epoch_seconds),
        parameters=model.count_params(),
        train_samples=train_samples,
        test_samples=len(dataset.x_test),
        train_seconds=fit_seconds,
        seconds_per_epoch=statistics.median(epoch_seconds),
        samples_per_second=train_samples * len(epoch_seconds) / sum(epoch_seconds),
        data_source=dataset.recorded_source,
        versions=library_versions(),
    )
    if config.reference is not None:
        metrics["reference"] = {
            **config.reference.model_dump(),
            "measured": metrics.get(config.reference.metric),
        }
    return metrics


def regression_metrics(
    config: Config, dataset: Dataset, history: dict[str, list[float]], train_samples: int
) -> dict[str, Any]:
    """Best validation MAE, and the MAE of always predicting the training mean: the
    baseline a regression model has to beat (accuracy means nothing here)."""
    metrics: dict[str, Any] = {}
    val_mae = history.get("val_mae") or history.get("val_mean_absolute_error")
    if val_mae:
        best = int(np.argmin(val_mae))
        metrics.update(best_val_mae=val_mae[best], best_epoch=best + 1, final_val_mae=val_mae[-1])
    fitted, held_out = dataset.y_train[:train_samples], dataset.y_train[train_samples:]
    mean = float(np.mean(fitted))
    metrics["baseline_training_mean"] = mean
    if len(held_out):
        metrics["baseline_val_mae"] = float(np.mean(np.abs(held_out - mean)))
    metrics["baseline_test_mae"] = float(np.mean(np.abs(dataset.y_test - mean)))
    return metrics


def library_versions() -> dict[str, str]:
    import tensorflow as tf

    return {
        "dlcourse": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
