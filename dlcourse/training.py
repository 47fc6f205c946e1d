"""Training: seed, fit, evaluate on the test split, and leave a complete run directory.

The run directory is created only after the data and the model have been checked, so a
mistake in either costs seconds and leaves nothing behind. From then on the history is
saved after every epoch and the status file always says how the run ended.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np

import dlcourse
from dlcourse import reports
from dlcourse.backup import BACKUP_DIR, RunBackup, previous_history, resumable_config
from dlcourse.config import WORD_INDEX_DATASETS, Config
from dlcourse.data import Dataset, load_dataset, load_word_index, one_hot_if_needed
from dlcourse.distribution import Distribution, distributed
from dlcourse.errors import DataError, DlcourseError
from dlcourse.execution import ExecutionPlan, LengthBuckets, plan_execution, validation_cut
from dlcourse.evaluation import evaluate_model, load_run_dataset, write_evaluation_files
from dlcourse.models import build_model, signature_of
from dlcourse.prediction import save_word_index
from dlcourse.rundir import (
    CLASSES_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    STATUS_FILE,
    read_json,
    temporary_path,
    write_json,
    write_text,
)
from dlcourse.text import VOCABULARY_FILE, save_vocabulary


class TrainingDiverged(DlcourseError):
    """The loss became NaN or infinite; the run stopped at that epoch."""

    exit_code = 3


@dataclass(frozen=True)
class TrainResult:
    """What a training run returns: where it wrote, what it measured, the trained model."""

    run_dir: Path
    history: dict[str, list[float]]
    metrics: dict[str, Any]
    model: keras.Model
    # False on the workers of a cluster that aren't the chief: their run_dir is gone.
    is_chief: bool = True


class EpochRecorder(keras.callbacks.Callback):
    """Keeps every metric of every epoch plus its wall time, saved as each epoch ends.

    Saving per epoch means an interrupted or crashed run still has its history on disk.
    A resumed run passes that history in; it is cut to the epochs the backup restored
    (the history of an epoch is saved just before its backup, so it can be one ahead).
    """

    def __init__(self, run_dir: Path, history: dict[str, list[float]] | None = None):
        super().__init__()
        self.run_dir = run_dir
        self.history: dict[str, list[float]] = history or {}
        self._started = 0.0
        self._last_end: float | None = None
        # From the start of the process, so it counts imports and loading the data too.
        self.seconds_to_first_epoch: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for values in self.history.values():
            del values[epoch:]
        # An epoch's time runs from the end of the one before, so it includes what the
        # callbacks after this one did then (the backup's save): all that an epoch costs.
        self._started = self._last_end or time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._last_end = time.perf_counter()
        seconds = self._last_end - self._started
        for key, value in {**(logs or {}), "epoch_seconds": seconds}.items():
            self.history.setdefault(key, []).append(float(value))
        reports.write_history(self.run_dir, self.history)
        # A diverged run stops at the end of its epoch (then _stop_if_diverged reports it).
        # Keras's TerminateOnNaN would check every batch, and any per-batch callback makes
        # Keras wait for each batch's logs: a few percent of a small model's epoch.
        if not np.isfinite(self.history.get("loss", [0.0])[-1]):
            self.model.stop_training = True
        if self.seconds_to_first_epoch is None:
            self.seconds_to_first_epoch = time.perf_counter() - dlcourse.STARTED


def seed_everything(config: Config) -> None:
    """Seed Python, NumPy and the backend; optionally make TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def train_and_evaluate(
    config: Config,
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    resume: Path | None = None,
    dataset: Dataset | None = None,
) -> TrainResult:
    """Train `config`'s model, evaluate it on the test split, and write a run directory.

    With `resume`, continue that stopped run of `config` in its own directory instead
    (see `resume_and_evaluate`, which checks that it can be resumed). `dataset` replaces
    loading the config's data: the Python-API path for texts held in lists
    (`dlcourse.text.text_dataset`). With `distribution.strategy` set, the same code runs
    data-parallel through tf.distribute (see dlcourse/distribution.py).
    """
    with distributed(config.distribution) as distribution:
        return _train_and_evaluate(config, data_dir, output_dir, resume, dataset, distribution)


def _train_and_evaluate(
    config: Config,
    data_dir: str | Path | None,
    output_dir: str | Path | None,
    resume: Path | None,
    dataset: Dataset | None,
    distribution: Distribution,
) -> TrainResult:
    seed_everything(config)
    if dataset is None and resume is not None:
        # The resumed epochs must see the word indices the first ones saw: the saved vocabulary.
        dataset = load_run_dataset(resume, config, data_dir)
    elif dataset is None:
        dataset = load_dataset(config.data, data_dir, task=config.task)
    signature = signature_of(dataset, config)
    plan = plan_execution(config)
    with distribution.scope():
        model = build_model(config, signature, plan)
    output_dir = output_dir or config.output.dir
    if resume is None:
        run_dir = distribution.create_run_dir(output_dir, config.name)
        write_text(run_dir / CONFIG_FILE, config.to_yaml())
        reports.write_summary(run_dir, model_summary(model))
        _keep_what_predict_needs(run_dir, config, dataset, data_dir)
        status = {"status": "running", "started": _now()}
        recorder = EpochRecorder(run_dir)
    else:
        run_dir = resume
        status = _resumed_status(read_json(run_dir / STATUS_FILE))
        recorder = EpochRecorder(run_dir, previous_history(run_dir))
    # Who is training, so that resuming can tell a killed run from a live one.
    status.update(pid=os.getpid(), host=platform.node())
    write_json(run_dir / STATUS_FILE, status)
    try:
        # One process keeps its backup in the run; a cluster keeps one per worker.
        backups = distribution.callbacks(output_dir, config.name) or [RunBackup(run_dir)]
        callbacks = _callbacks(config, run_dir, recorder, backups)
        fit_seconds = _fit(model, config, dataset, callbacks, plan)
        _stop_if_diverged(recorder.history, run_dir)
        model = distribution.local_copy(model, lambda: build_model(config, signature, plan))
        evaluation = evaluate_model(model, config, dataset)
        model.save(temporary_path(run_dir / MODEL_FILE))
        temporary_path(run_dir / MODEL_FILE).replace(run_dir / MODEL_FILE)
        metrics = run_metrics(
            config, dataset, model, recorder.history, evaluation.metrics, fit_seconds
        )
        metrics.update(
            execution=plan.describe(), seconds_to_first_epoch=recorder.seconds_to_first_epoch
        )
        metrics.update(evaluation.detail())
        reports.write_metrics(run_dir, metrics)
        if config.output.plots:
            reports.plot_curves(run_dir, recorder.history)
        write_evaluation_files(run_dir, evaluation, dataset, data_dir, plots=config.output.plots)
    except KeyboardInterrupt:
        _finish(run_dir, status, "interrupted", recorder.history)
        raise
    except TrainingDiverged as error:
        _finish(run_dir, status, "diverged", recorder.history, str(error))
        # A diverged run can't be resumed (it would diverge again): its backup is no use.
        shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
        raise
    except Exception as error:
        _finish(run_dir, status, "failed", recorder.history, f"{type(error).__name__}: {error}")
        raise
    # The backup goes only once every result is on disk, so any failure before is resumable.
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    _finish(run_dir, status, "finished", recorder.history)
    reports.write_report(run_dir)
    return TrainResult(run_dir, recorder.history, metrics, model, distribution.is_chief)


def resume_and_evaluate(
    run_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    config: Config | None = None,
) -> TrainResult:
    """Continue a killed, interrupted or failed run from its last finished epoch.

    The run's own config.yaml is used; `config`, if given, must be the same. The run
    finishes in `run_dir`, as if it had never stopped.
    """
    run_dir = Path(run_dir)
    saved = resumable_config(run_dir, config)
    if saved.distribution.strategy == "multi_worker":
        raise DlcourseError(
            f"{run_dir} was trained by a cluster: restart every worker with the same command "
            "and each resumes from its own backup (see 'Several devices or machines')."
        )
    return train_and_evaluate(saved, data_dir=data_dir, resume=run_dir)


def _resumed_status(previous: dict[str, Any]) -> dict[str, Any]:
    kept = {key: value for key, value in previous.items()
            if key not in ("status", "ended", "error", "epochs_completed")}
    return {**kept, "status": "running", "resumed": [*previous.get("resumed", []), _now()]}


def _callbacks(
    config: Config, run_dir: Path, recorder: EpochRecorder, backups: list
) -> list[keras.callbacks.Callback]:
    # The recorder saves an epoch's history before the backup saves its weights, so a
    # kill between the two leaves history one epoch ahead, which resuming cuts off.
    # None of them acts per batch, so Keras needn't wait for each batch's logs.
    callbacks = [recorder, *backups]
    if config.output.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard")))
    return callbacks


def _keep_what_predict_needs(run_dir: Path, config: Config, dataset: Dataset, data_dir) -> None:
    """The class names, and for text the word index or the fitted vocabulary, so `predict`
    and `evaluate` prepare new inputs exactly as in training."""
    if dataset.class_names:
        write_json(run_dir / CLASSES_FILE, list(dataset.class_names))
    if dataset.vocabulary is not None:
        save_vocabulary(run_dir / VOCABULARY_FILE, dataset.vocabulary)
    if config.data.dataset in WORD_INDEX_DATASETS:
        _keep_word_index(run_dir, config, data_dir)


def _keep_word_index(run_dir: Path, config: Config, data_dir) -> None:
    """Save the word index with an IMDB run, so `predict` can map raw reviews as in training."""
    try:
        word_index = load_word_index(data_dir)
    except DataError as error:
        print(f"Warning: `dlcourse predict` won't work on this run: {error}", file=sys.stderr)
        return
    save_word_index(run_dir, word_index, config.data.num_words)


def _fit(
    model: keras.Model, config: Config, dataset: Dataset, callbacks: list, plan: ExecutionPlan
) -> float:
    inputs, more_callbacks = _fit_inputs(config, dataset, plan)
    started = time.perf_counter()
    model.fit(
        epochs=config.fit.epochs,
        callbacks=[*more_callbacks, *callbacks],
        # A live progress bar on a terminal; one line per epoch in logs and CI.
        verbose=1 if sys.stdout.isatty() else 2,
        **inputs,
    )
    return time.perf_counter() - started


def _fit_inputs(
    config: Config, dataset: Dataset, plan: ExecutionPlan
) -> tuple[dict[str, Any], list[keras.callbacks.Callback]]:
    """model.fit's data arguments: the arrays as they are, or length-bucketed batches."""
    fit, loss = config.fit, config.compile.loss
    x, y = dataset.x_train, one_hot_if_needed(dataset.y_train, dataset.num_classes, loss)
    validation = None
    if fit.validation == "test":
        validation = (dataset.x_test, one_hot_if_needed(dataset.y_test, dataset.num_classes, loss))
    if not plan.bucketing:
        inputs: dict[str, Any] = {"x": x, "y": y, "batch_size": fit.batch_size}
        if fit.validation_split is not None:
            inputs["validation_split"] = fit.validation_split
        elif validation is not None:
            inputs["validation_data"] = validation
        return inputs, []
    if fit.validation_split is not None:
        cut = validation_cut(len(x), fit.validation_split)
        x, y, validation = x[:cut], y[:cut], (x[cut:], y[cut:])
    train = LengthBuckets(x, y, fit.batch_size, plan.bucket_width, seed=config.seed)
    inputs = {"x": train.dataset(), "shuffle": False}  # LengthBuckets shuffles each epoch
    if validation is not None:
        held_out = LengthBuckets(*validation, fit.batch_size, plan.bucket_width)
        inputs["validation_data"] = held_out.dataset()
    return inputs, [train.callback()]


def _stop_if_diverged(history: dict[str, list[float]], run_dir: Path) -> None:
    losses = history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise TrainingDiverged(
            f"Training diverged: the loss became {losses[-1]} at epoch {len(losses)}, so the "
            "run stopped there. Lower compile.optimizer.learning_rate and train again; the "
            f"history so far is in {run_dir}."
        )


def _finish(
    run_dir: Path,
    status: dict[str, Any],
    outcome: str,
    history: dict[str, list[float]],
    error: str | None = None,
) -> None:
    status.update(
        status=outcome,
        ended=_now(),
        epochs_completed=len(history.get("loss", [])),
    )
    if error:
        status["error"] = error
    write_json(run_dir / STATUS_FILE, status)


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
        train_samples -= int(train_samples * config.fit.validation_split)
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
        data_source=str(dataset.source),
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


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=80)
    return "\n".join(lines) + "\n"


def library_versions() -> dict[str, str]:
    import tensorflow as tf

    return {
        "dlcourse": dlcourse.__version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
