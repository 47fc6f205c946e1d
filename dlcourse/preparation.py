"""One way from a config to a model ready to fit: the data, its signature, the execution
plan and the built model. `train`, `--resume`, `summary` and every tuning trial take it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import keras

from dlcourse.config import Config
from dlcourse.data import DataSignature, Dataset, load_dataset, signature_of
from dlcourse.execution import ExecutionPlan, plan_execution
from dlcourse.models import build_model
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


def prepare(
    config: Config,
    data_dir: str | Path | None = None,
    *,
    dataset: Dataset | None = None,
    run: RunDir | None = None,
    scope=None,
) -> Prepared:
    """Load the data (`dataset` if given; a run's data as it trained, for `run`), plan
    the execution and build the model, inside `scope` (a distribution strategy's)."""
    if dataset is None:
        dataset = run_dataset(run, config, data_dir) if run else load_dataset(
            config.data, data_dir, task=config.task
        )
    signature = signature_of(dataset, config)
    plan = plan_execution(config, train_samples=len(dataset.x_train))
    with scope or contextlib.nullcontext():
        model = build_model(config, signature, plan)
    return Prepared(config, dataset, signature, plan, model)


def run_dataset(run: RunDir, config: Config, data_dir: str | Path | None) -> Dataset:
    """A run's data prepared as in training: raw text with the run's saved vocabulary."""
    vocabulary = run.read_vocabulary() if config.data.dataset == "raw_text" else None
    return load_dataset(config.data, data_dir, vocabulary=vocabulary, task=config.task)
