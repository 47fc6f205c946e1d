"""dlcourse: the lecture's models from YAML, trained and evaluated with one command.

The functions here are the Python API behind the CLI. They import TensorFlow only when
called, so `import dlcourse` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dlcourse.config import Config
    from dlcourse.data import Dataset
    from dlcourse.training import TrainResult


def train(
    config: str | Path | Config,
    overrides: Mapping[str, Any] | None = None,
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    smoke: bool = False,
    dataset: Dataset | None = None,
) -> TrainResult:
    """Train the model a config describes and write a run directory.

    `overrides` maps dotted keys to values, e.g. `{"fit.epochs": 3}`, exactly like the
    CLI's `--set fit.epochs=3`. `dataset` trains on data prepared in Python instead of the
    config's files, e.g. texts in lists through `dlcourse.text.text_dataset`. Returns the
    history, the metrics and the run directory.
    """
    from dlcourse.config import load_config
    from dlcourse.training import train_and_evaluate

    if not hasattr(config, "fit"):
        config = load_config(config, overrides or {}, smoke=smoke)
    elif overrides or smoke:
        raise TypeError("overrides and smoke apply to a config file, not to a loaded Config")
    return train_and_evaluate(config, data_dir=data_dir, output_dir=output_dir, dataset=dataset)


def evaluate(
    run_dir: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> dict[str, float]:
    """Reload a run's model and evaluate it on the test split; returns {metric: value}.

    Without `run_dir`, the most recent run under `output_dir` (default `runs`) is used.
    """
    from dlcourse.evaluation import evaluate_run

    return evaluate_run(run_dir, data_dir=data_dir, output_dir=output_dir).metrics
