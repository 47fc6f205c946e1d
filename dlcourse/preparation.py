"""One way from a config to a model ready to fit: the data, its signature, the execution
plan and the built model. `train`, `--resume`, `summary` and every tuning trial take it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras

from dlcourse.config import Config
from dlcourse.data import DataSignature, Dataset, load_dataset, signature_of
from dlcourse.data.files import fingerprint
from dlcourse.data.loading import own_files
from dlcourse.data.memory import dataset_from_memory, test_split_from_memory
from dlcourse.execution import ExecutionPlan, plan_execution, validation_cut
from dlcourse.models import build_model, names_untouched, summary_text
from dlcourse.errors import DataError, RunError
from dlcourse.layers import fit_data_statistics
from dlcourse.rundir import RunDir


@dataclass(frozen=True)
class Prepared:
    config: Config
    dataset: Dataset
    signature: DataSignature
    plan: ExecutionPlan
    model: keras.Model

    def build_again(self) -> keras.Model:
        """A fresh model of the same config, for a copy outside a distribution strategy."""
        return build_model(self.config, self.signature, self.plan)

    def summary(self) -> str:
        """The model's summary with the shapes of the lecture's slides. A bucketed model
        takes sequences of any length, so its own summary says (None, None, 32) where the
        slide has (None, 500, 32); the same layers at the data's length say it as it is."""
        if not self.plan.bucketing:
            return summary_text(self.model)
        return model_summary(self.config, self.signature, self.plan)


def model_summary(config: Config, signature: DataSignature, plan: ExecutionPlan) -> str:
    with names_untouched():
        return summary_text(build_model(config, signature, replace(plan, bucketing=False)))


def prepare(
    config: Config,
    data_dir: str | Path | None = None,
    *,
    dataset: Dataset | None = None,
    scope=None,
) -> Prepared:
    """Load the data (or take `dataset`), plan the execution and build the model, inside
    `scope` (a distribution strategy's)."""
    if dataset is None:
        dataset = load_dataset(config.data, data_dir, task=config.task)
    signature = signature_of(dataset, config)
    plan = plan_execution(config, train_samples=len(dataset.x_train))
    with scope or contextlib.nullcontext():
        model = model_for(config, dataset, signature, plan)
    return Prepared(config, dataset, signature, plan, model)


def model_for(config: Config, dataset: Dataset, signature: DataSignature,
              plan: ExecutionPlan) -> keras.Model:
    """The built model, with what its layers learn from the training data before fitting."""
    model = build_model(config, signature, plan)
    fit_data_statistics(model, *fitted_rows(config, dataset))
    return model


def fitted_rows(config: Config, dataset: Dataset):
    """The training rows the fit learns from: without the validation split Keras holds
    out, so that statistics of the data (NaiveBayesBag's ratios) never see it."""
    x, y = dataset.x_train, dataset.y_train
    if config.fit.validation_split is not None:
        cut = validation_cut(len(x), config.fit.validation_split)
        x, y = x[:cut], y[:cut]
    return x, y


# What data.json says of a run trained on data given from Python, which it doesn't keep.
MEMORY_KIND = "memory"


def run_dataset(run: RunDir, config: Config, data_dir: str | Path | None, *,
                memory: tuple[Any, Any] | None = None, command: str = "evaluate") -> Dataset:
    """A run's data prepared as in training: raw text with the run's saved vocabulary.
    `memory` is (train, test) given from Python again, for a run trained on such data."""
    vocabulary = run.read_vocabulary() if config.data.dataset == "raw_text" else None
    if memory is not None:
        known = dict(class_names=run.read_classes(), vocabulary=vocabulary,
                     regression=config.task == "regression")
        train, test = memory
        if train is None:
            return test_split_from_memory(config.data, test, **known)
        return dataset_from_memory(config.data, train, test, **known)
    if run.read_data_record().get("kind") == MEMORY_KIND:
        again = {
            "evaluate": f"dlcourse.evaluate({str(run.path)!r}, test=(x_test, y_test))",
            "resume": f"dlcourse.resume({str(run.path)!r}, train=(x_train, y_train), "
                      "test=(x_test, y_test))",
            "export": f"dlcourse.export({str(run.path)!r}, test=(x_test, y_test)), to check "
                      "the export on them",
        }
        raise RunError(
            f"{run.path} was trained on data given from Python, which a run directory doesn't "
            f"keep, so `{command}` has no data to read. "
            + (f"From Python, give it again: {again[command]}." if command in again
               else "`predict` takes new inputs, and dlcourse.evaluate(run, test=...) the test split.")
        )
    return _with_the_runs_classes(run, config, data_dir, vocabulary)


def _with_the_runs_classes(run: RunDir, config: Config, data_dir, vocabulary) -> Dataset:
    """The data, its labels numbered as the run's classes.json numbers them: other data
    (--data-dir) must not renumber them, or every prediction is scored against another
    class. Raw text takes the run's classes as its class names (a label outside them is
    refused); any other data must come with the same classes."""
    classes = run.read_classes()
    data = config.data
    if classes and data.dataset == "raw_text":
        data = data.model_copy(update={"class_names": list(classes)})
    dataset = load_dataset(data, data_dir, vocabulary=vocabulary, task=config.task)
    if classes and tuple(dataset.class_names) != tuple(classes):
        raise DataError(
            f"{dataset.source}: its classes {list(dataset.class_names)} are not those "
            f"{run.path} was trained on, {list(classes)}, so its predictions would be scored "
            "against other labels. Give --data-dir data with the run's classes."
        )
    return dataset


def memory_record(dataset: Dataset) -> dict[str, Any]:
    """data.json for a run on data given from Python: no file to find again."""
    return {"kind": MEMORY_KIND, "data_dir": None, "source": None,
            "train_samples": len(dataset.x_train), "test_samples": len(dataset.x_test)}


def recorded_data_dir(run: RunDir, given: str | Path | None) -> str | Path | None:
    """The data directory for a command on `run`: `given` (--data-dir) if any, else the
    one the run was trained from, checked to still hold the same data."""
    if given is not None:
        return given
    record = run.read_data_record()
    recorded_files = _recorded_files(record)
    for source, recorded in recorded_files.items():
        path = Path(source)
        if not path.exists():
            raise RunError(
                f"{run.path} was trained on {source}, which is no longer there. Pass "
                "--data-dir DIR (data_dir=... in Python) to a directory holding that data."
            )
        if fingerprint(path) != recorded:
            raise RunError(
                f"{source} has changed since {run.path} was trained on it (its files, sizes "
                "or dates differ), so its test split may not be the one the run was measured "
                "on. Pass --data-dir DIR to use it, or another copy, anyway."
            )
    _check_no_new_matches(run, record, recorded_files)
    return record.get("data_dir")


def _check_no_new_matches(run: RunDir, record: dict, recorded: dict[str, list[int]]) -> None:
    """A file that a config's pattern (data.train: train-*.jsonl) matches now but didn't in
    training would be read too: the data changed as surely as if a file had."""
    if "files" not in record:
        return  # a record from before 2026-12 has no list to compare with
    try:
        own = own_files(run.read_config().data, record.get("data_dir"))
    except (DataError, RunError):
        return  # no config, or nothing matches at all: the command's own reading says so
    if own is None:
        return  # a Keras dataset: one file, checked above
    if new := sorted({str(path.resolve()) for path in own[1]} - set(recorded)):
        raise RunError(
            f"{new[0]} matches the config's data paths now, but wasn't there when {run.path} "
            "was trained, so its data would differ. Pass --data-dir DIR to use it anyway, "
            "or move the new file away."
        )


def _recorded_files(record: dict) -> dict[str, list[int]]:
    """The fingerprints a data.json holds; one written before them (until 2026-12)
    recorded its source file's size and date alone."""
    files = record.get("files")
    if isinstance(files, dict):
        return {str(path): value for path, value in files.items()}
    source = record.get("source")
    if source and Path(source).is_file():
        return {source: [1, record.get("size"), record.get("mtime_ns")]}
    return {}
