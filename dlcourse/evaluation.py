"""Evaluation: a trained model on the test split, as {metric: value}.

`evaluate_run` rebuilds the test split exactly as the run's saved config describes it, so
a run's test accuracy can be reproduced from its directory alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import keras

from dlcourse.config import Config, load_config
from dlcourse.data import Dataset, load_dataset, one_hot_if_needed
from dlcourse.errors import RunError
from dlcourse.rundir import CONFIG_FILE, MODEL_FILE, latest_run, write_json


@dataclass(frozen=True)
class EvaluationResult:
    run_dir: Path
    metrics: dict[str, float]


def evaluate_model(model: keras.Model, config: Config, dataset: Dataset) -> dict[str, float]:
    """Test-split metrics, named `test_<metric>` (test_loss, test_accuracy, ...)."""
    targets = one_hot_if_needed(dataset.y_test, dataset.num_classes, config.compile.loss)
    results = model.evaluate(
        dataset.x_test, targets, batch_size=config.fit.batch_size, verbose=0, return_dict=True
    )
    return {f"test_{name}": float(value) for name, value in results.items()}


def evaluate_run(
    run_dir: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> EvaluationResult:
    """Reload a run's model and config, evaluate on the test split, write evaluation.json."""
    run_dir = Path(run_dir) if run_dir else latest_run(output_dir or "runs")
    if not (run_dir / CONFIG_FILE).is_file():
        raise RunError(f"{run_dir} is not a dlcourse run directory (it has no {CONFIG_FILE}).")
    config = load_config(run_dir / CONFIG_FILE)
    model = load_trained_model(run_dir)
    dataset = load_dataset(config.data, data_dir)
    metrics = evaluate_model(model, config, dataset)
    write_json(
        run_dir / "evaluation.json",
        {**metrics, "evaluated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
         "data_source": str(dataset.source)},
    )
    return EvaluationResult(run_dir, metrics)


def load_trained_model(run_dir: Path) -> keras.Model:
    """The run's model.keras, loaded with Keras's safe mode (no arbitrary code)."""
    path = run_dir / MODEL_FILE
    if not path.is_file():
        raise RunError(
            f"{run_dir} has no {MODEL_FILE}: the run did not finish "
            "(see its status.json)."
        )
    try:
        return keras.models.load_model(path, safe_mode=True)
    except ValueError as error:
        if "arbitrary code" in str(error):
            raise RunError(
                f"{path}: refused to load this model. It holds Python code (such as a "
                "Lambda layer's function), and dlcourse loads models only in Keras's safe "
                "mode, which never runs code from a file because that code could do "
                f"anything (arbitrary code execution). Keras: {str(error).split('. ')[0]}."
            ) from None
        raise RunError(f"{path}: can't load this model ({error}). Is the file complete?") from None
