"""The Python API behind the CLI: each function is one command.

TensorFlow is imported only inside the functions, so `import dlcourse` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from dlcourse.config import Config
    from dlcourse.data import Dataset
    from dlcourse.training import TrainResult
    from dlcourse.tuning import TuneResult


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
    from dlcourse.tensorflow_setup import start_tensorflow

    start_tensorflow()
    from dlcourse.training import train_and_evaluate

    if not hasattr(config, "fit"):
        config = load_config(config, overrides or {}, smoke=smoke)
    elif overrides or smoke:
        raise TypeError("overrides and smoke apply to a config file, not to a loaded Config")
    return train_and_evaluate(config, data_dir=data_dir, output_dir=output_dir, dataset=dataset)


def resume(
    run_dir: str | Path,
    config: str | Path | Config | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    data_dir: str | Path | None = None,
    smoke: bool = False,
) -> TrainResult:
    """Continue a killed, interrupted or failed run from its last finished epoch.

    The run finishes in its own directory with its own saved config. `config` (with
    `overrides` and `smoke`, as for `train`) is optional; when given it must resolve to
    that same config, and anything else is refused.
    """
    from dlcourse.config import load_config
    from dlcourse.tensorflow_setup import start_tensorflow

    start_tensorflow()
    from dlcourse.training import resume_and_evaluate

    if config is None and (overrides or smoke):
        raise TypeError("overrides and smoke change a config file: pass it as `config`")
    if config is not None and not hasattr(config, "fit"):
        config = load_config(config, overrides or {}, smoke=smoke)
    elif overrides or smoke:
        raise TypeError("overrides and smoke apply to a config file, not to a loaded Config")
    return resume_and_evaluate(run_dir, data_dir=data_dir, config=config)


def tune(
    config: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    algorithm: str = "random",
    trials: int | None = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    smoke: bool = False,
) -> TuneResult:
    """Search the values a config leaves open (`units: {tune: int, ...}`) with KerasTuner.

    Writes a tuning directory with every trial, a report and `best_config.yaml`, which
    `train` accepts. `algorithm` is random, bayesian or hyperband; `smoke` runs 2 tiny
    trials. Returns the trials, the best config and the directory.
    """
    from dlcourse.config import load_search_config
    from dlcourse.tensorflow_setup import start_tensorflow

    start_tensorflow()
    from dlcourse.tuning import override_texts, tune as run_search

    search = load_search_config(config, overrides or {}, smoke=smoke)
    return run_search(
        search, algorithm=algorithm, trials=trials, data_dir=data_dir,
        output_dir=output_dir, overrides=override_texts(overrides or {}), smoke=smoke,
    )


def resume_tuning(tune_dir: str | Path, *, data_dir: str | Path | None = None) -> TuneResult:
    """Continue an interrupted `tune` in `tune_dir`; its finished trials are not rerun."""
    from dlcourse.tensorflow_setup import start_tensorflow

    start_tensorflow()
    from dlcourse.tuning import resume

    return resume(tune_dir, data_dir=data_dir)


def evaluate(
    run_dir: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> dict[str, float]:
    """Reload a run's model and evaluate it on the test split; returns {metric: value}.

    Without `run_dir`, the most recent run under `output_dir` (default `runs`) is used.
    """
    from dlcourse.tensorflow_setup import start_tensorflow

    start_tensorflow()
    from dlcourse.evaluation import evaluate_run

    return evaluate_run(run_dir, data_dir=data_dir, output_dir=output_dir).metrics
