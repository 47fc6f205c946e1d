"""The Python API behind the CLI: each function is one command.

TensorFlow is imported only inside the functions, so `import dlcourse` stays fast.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from dlcourse.errors import DlcourseError
from dlcourse.version import timed

if TYPE_CHECKING:
    from dlcourse.config import Config
    from dlcourse.evaluation import EvaluationResult
    from dlcourse.training import TrainResult
    from dlcourse.tuning import TuneResult


@timed
def train(
    config: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    train: Any = None,
    test: Any = None,
    class_names: Sequence[str] | None = None,
    name: str | None = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    smoke: bool = False,
    track: str | None = None,
) -> TrainResult:
    """Train the model a config describes and write a run directory.

    `config` is a YAML file, a shipped config's name ("mnist_cnn", see `configs()`), a dict
    of the file's sections (`{"data": {...}, "model": {...}, ...}`) or a loaded Config.
    `overrides` maps dotted keys to values, e.g. `{"fit.epochs": 3}`, exactly like the
    CLI's `--set fit.epochs=3`.

    Your own data: `train=(x_train, y_train), test=(x_test, y_test)` with NumPy arrays
    (images (N, H, W[, C]), integer pixels of 0-255 scaled as MNIST's; padded word indices), tf.data
    Datasets of (x, y) pairs, or for raw-text configs lists of texts or DataFrames. Labels
    are class indices, named by `class_names`. The run is called `<config>-custom` unless
    `name` says otherwise. `track="mlflow"` logs the run to MLflow (as output.mlflow does).
    Returns the history, the metrics and the run directory.
    """
    from dlcourse.config import load_config, origin_of, renamed
    from dlcourse.config.shipped import resolve
    from dlcourse.data import check_findable, check_given_dir
    from dlcourse.preflight import repeated_data_dir, writable_output
    from dlcourse.tensorflow_setup import start_tensorflow

    # The config and the output folder first: a mistake in them is reported without
    # waiting for TensorFlow.
    check_given_dir(data_dir)
    _folder(output_dir, "output_dir")
    origin = path = None
    _not_a_run_dir(config)
    if not hasattr(config, "fit"):
        path = config
        config = load_config(path, overrides or {}, smoke=smoke)
        origin = origin_of(path, overrides or {}, smoke=smoke, config=config)
        if not isinstance(path, Mapping) and train is None and test is None:
            data_dir = repeated_data_dir(resolve(path), config, data_dir)
    elif overrides or smoke:
        raise TypeError("overrides and smoke apply to a config file, not to a loaded Config")
    _check_tracker(track)
    given = train is not None or test is not None
    if class_names is not None and not given:  # a config's data has its own classes
        raise TypeError("class_names names the classes of data given with train= and test=; "
                        "a config's own data is named by its data.class_names")
    if class_names is not None and config.task == "regression":  # was taken and ignored
        raise TypeError(f"class_names names classes, but {config.name} is a regression (its "
                        f"loss is {config.compile.loss}): its targets are numbers, not classes")
    if given:
        config = renamed(config, name or f"{config.name}-custom")
    elif name is not None:
        config = renamed(config, name)
    if config.distribution.strategy != "multi_worker":  # a cluster's other workers write elsewhere
        writable_output(output_dir or config.output.dir, config.name)
    if not given:
        check_findable(config.data, data_dir)
    start_tensorflow()
    from dlcourse.tracking import with_tracking
    from dlcourse.training import train_and_evaluate

    if track == "mlflow":
        config = with_tracking(config)
    dataset = _from_memory(config, train, test, class_names) if given else None
    with _naming(path, overrides or (), len(config.model.layers)):
        return train_and_evaluate(config, data_dir=data_dir, output_dir=output_dir,
                                  dataset=dataset, origin=origin)


@contextmanager
def _naming(config: Any, overrides: Mapping[str, Any] | Sequence[str] = (), layers: int = 0):
    """A model its data can't take is a mistake in the config: said with the config file's
    name, as load_config says its own (a dict or a loaded Config has none), and with the
    override that made it, where one did (the file alone was blamed, shipped or not).
    `layers` is how many the model has, for an override that counts from the end."""
    from dlcourse.config.overrides import attributions
    from dlcourse.config.shipped import resolve
    from dlcourse.errors import ModelDataMismatch

    try:
        yield
    except ModelDataMismatch as error:
        if not isinstance(config, (str, Path)):
            raise
        failed = _layer_of(str(error), anywhere=True)
        # An override of that layer or one before it: a wider pool two layers up leaves a
        # later layer too small an input. An override may count from the end (layers[-1]).
        given = [given for key, given in attributions(overrides)
                 if failed is not None and (at := _layer_of(key)) is not None
                 and at % max(layers, 1) <= failed]
        said = f"{str(error).rstrip('.')} (from {', '.join(given)})." if given else str(error)
        raise ModelDataMismatch(f"{resolve(config)}: {said}") from None


def _layer_of(text: str, *, anywhere: bool = False) -> int | None:
    """7 of an override's key 'model.layers[7].Dense.units' (`anywhere`: of the first
    layer a message names)."""
    import re

    found = (re.search if anywhere else re.match)(r"model\.layers\[(-?\d+)\]", text)
    return int(found.group(1)) if found else None


def validate(config: str | Path | Mapping[str, Any],
             overrides: Mapping[str, Any] | Sequence[str] = ()):
    """The config checked as `dlcourse validate` checks it, without TensorFlow: against
    the schema, and where the config fixes its data's shapes (MNIST, CIFAR, IMDB's word
    indices), that its model's first and last layers fit them. Returns the SearchConfig
    (`.config`, and `.expressions` where it searches)."""
    from dlcourse.config import load_search_config

    search = load_search_config(config, overrides)
    _check_against_data(search, config, overrides)
    return search


def _check_against_data(search, config, overrides) -> None:
    """Where the config fixes its data's shapes, its model takes them: at the searched
    values' ends and choices too, as the schema checks them. A choice the data can't take
    (an Embedding of 5,000 rows for 10,000 words) passed validate, and failed trial after
    trial of the search."""
    from dlcourse.data import signature_from_config
    from dlcourse.errors import ModelDataMismatch
    from dlcourse.model_checks import check_against_data

    first = {expression.path: expression.first for expression in search.expressions}
    variants = [(search.config, None)] + [
        (search.with_values({**first, expression.path: value}), expression)
        for expression in search.expressions for value in expression.extremes[1:]]
    with _naming(config, overrides, len(search.config.model.layers)):
        for variant, expression in variants:
            if (signature := signature_from_config(variant)) is None:
                continue
            try:
                check_against_data(variant, signature)
            except ModelDataMismatch as error:
                if expression is None:
                    raise
                raise ModelDataMismatch(
                    f"{str(error).rstrip('.')} (searched by {expression.path}: "
                    f"{expression.describe()}).") from None


def _not_a_run_dir(config: Any) -> None:
    """A run directory given as the config ("not a regular file"): say what was meant."""
    from dlcourse.errors import ConfigError
    from dlcourse.rundir import CONFIG_FILE, is_run_dir

    if isinstance(config, (str, Path)) and Path(config).is_dir() and is_run_dir(Path(config)):
        raise ConfigError(f"{config} is a run directory, not a config: repeat the run with "
                          f"`dlcourse train {Path(config) / CONFIG_FILE}`, or continue a "
                          f"stopped one with `dlcourse train --resume {config}`.")


def _from_memory(config: Config, train: Any, test: Any, class_names: Sequence[str] | None):
    from dlcourse.data.memory import dataset_from_memory
    from dlcourse.errors import DataError

    if train is None:
        raise DataError("test=... needs train=... too: the model learns from train.")
    return dataset_from_memory(config.data, train, test, class_names=class_names,
                               regression=config.task == "regression")


@timed
def resume(
    run_dir: str | Path | TrainResult,
    config: str | Path | Mapping[str, Any] | Config | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    train: Any = None,
    test: Any = None,
    data_dir: str | Path | None = None,
    smoke: bool = False,
) -> TrainResult:
    """Continue a killed, interrupted or failed run from its last finished epoch.

    The run finishes in its own directory with its own saved config. `config` (with
    `overrides` and `smoke`, as for `train`) is optional; when given it must resolve to
    that same config, and anything else is refused. A run trained on `train=`/`test=`
    data needs the same data again.
    """
    from dlcourse.config import load_config
    from dlcourse.data import check_given_dir
    from dlcourse.preflight import resumable_run
    from dlcourse.tensorflow_setup import start_tensorflow

    run_dir = _run_path(run_dir)  # or the TrainResult of an interrupted train()
    if config is None and (overrides or smoke):
        raise TypeError("overrides and smoke change a config file: pass it as `config`")
    if config is not None and not hasattr(config, "fit"):
        config = load_config(config, overrides or {}, smoke=smoke)
    elif overrides or smoke:
        raise TypeError("overrides and smoke apply to a config file, not to a loaded Config")
    memory = None
    if train is not None or test is not None:
        if train is None or test is None:
            raise TypeError("resume needs both train= and test=, as the run was trained")
        memory = (train, test)
    resumable_run(run_dir, config)  # told before TensorFlow's import; checked again
    check_given_dir(data_dir)
    start_tensorflow()
    from dlcourse.training import resume_and_evaluate

    return resume_and_evaluate(run_dir, data_dir=data_dir, config=config, memory=memory)


def tune(
    config: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    algorithm: str = "random",
    trials: int | None = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    smoke: bool = False,
    track: str | None = None,
) -> TuneResult:
    """Search the values a config leaves open (`units: {tune: int, ...}`) with KerasTuner.

    Writes a tuning directory with every trial, a report and `best_config.yaml`, which
    `train` accepts. `algorithm` is random, bayesian or hyperband; `smoke` runs 2 tiny
    trials; `track="mlflow"` logs the search, each trial nested, to MLflow. Returns the
    trials, the best config and the directory.
    """
    from dlcourse.config import load_search_config
    from dlcourse.data import check_findable, check_given_dir
    from dlcourse.tensorflow_setup import start_tensorflow
    from dlcourse.tune_dir import check_search

    check_given_dir(data_dir)
    _folder(output_dir, "output_dir")
    _check_tracker(track)
    # The config, the search and the data's files first: a mistake there is told
    # without TensorFlow.
    search = load_search_config(config, overrides or {}, smoke=smoke)
    _check_against_data(search, config, overrides or {})
    check_search(search, algorithm, trials, smoke)
    check_findable(search.config.data, data_dir)
    start_tensorflow()
    from dlcourse.config import override_texts
    from dlcourse.tuning import tune as run_search

    return run_search(
        search, algorithm=algorithm, trials=trials, data_dir=data_dir,
        output_dir=output_dir, overrides=override_texts(overrides or {}), smoke=smoke,
        track=track,
    )


def resume_tuning(tune_dir: str | Path, *, data_dir: str | Path | None = None) -> TuneResult:
    """Continue an interrupted `tune` in `tune_dir`; its finished trials are not rerun."""
    from dlcourse.data import check_findable, check_given_dir
    from dlcourse.tensorflow_setup import start_tensorflow
    from dlcourse.tune_dir import TuneDir

    # The directory, its config and the data's files first: told without TensorFlow.
    check_given_dir(data_dir)
    directory = TuneDir(_folder(tune_dir, "tune_dir", "a tuning directory's path",
                                optional=False)).require()
    search, settings = directory.resumable(data_dir)
    check_findable(search.config.data, settings["data_dir"])
    start_tensorflow()
    from dlcourse.tuning import resume

    return resume(directory, search, settings)


def evaluate(
    run: str | Path | TrainResult | None = None,
    *,
    test: Any = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> EvaluationResult:
    """Reload a run's model and evaluate it on the test split: a {metric: value} mapping
    (with per-class detail, and a table in a notebook).

    `run` is a run directory or what `train` returned; without it, the most recent run
    under `output_dir` (default `runs`). `test=(x_test, y_test)` evaluates on data given
    from Python: needed for a run trained on such data, possible for any.
    """
    from dlcourse.preflight import findable_data, finished_run
    from dlcourse.rundir import latest_run
    from dlcourse.tensorflow_setup import start_tensorflow

    checked = finished_run(_run_path(run, optional=True)
                           or latest_run(_folder(output_dir, "output_dir") or "runs"))
    if test is None:
        data_dir = findable_data(checked, data_dir, "evaluate")
    run_dir = checked.path
    start_tensorflow()
    from dlcourse.evaluation import evaluate_run

    return evaluate_run(run_dir, data_dir=data_dir, test=test)


def predict(
    run: str | Path | TrainResult,
    inputs: str | Sequence[str] | Any,
    *,
    preprocess: bool = True,
) -> list[dict[str, Any]]:
    """Predict with a run's model: review texts for text models (a pathlib.Path is a file
    of them, one a line or a CSV/JSON lines file's text field, as on the command line),
    image files (paths, or a file's bytes, as a notebook's upload gives them) for image
    models, or a NumPy array of what the model takes (one image or a batch; padded word
    indices). One string is one input. Returns one record per input, as `dlcourse predict
    --json` prints them: label, probability and probabilities (value for regression),
    for texts how many words the model knows, and warnings. The model is loaded once for
    repeated calls on the same run.
    """
    from dlcourse.config import family
    from dlcourse.prediction_inputs import check_pictures, python_inputs
    from dlcourse.preflight import finished_run
    from dlcourse.tensorflow_setup import start_tensorflow

    checked = finished_run(_run_path(run))
    data = checked.read_config().data
    dataset = data.dataset
    pictures = not family(dataset).is_text
    inputs = python_inputs(inputs, pictures=pictures, text_field=data.text_field)
    if pictures and isinstance(inputs, list):  # as the command line checks them
        check_pictures(inputs, dataset)
    start_tensorflow()
    from dlcourse.prediction import predict_run

    return [prediction.as_dict() for prediction in
            predict_run(_run_path(run), inputs, preprocess=preprocess)]


def export(run: Any, format: str = "saved_model", *, output: str | Path | None = None,
           data_dir: str | Path | None = None, test: Any = None):
    """Export a run's model (a run directory or a train() result) as `format`
    (saved_model, onnx or litert), checked in that format's own runtime on the run's first
    100 test inputs; `test=(x_test, y_test)` gives them again for a run trained on data
    given from Python. A text run's SavedModel takes raw strings. Returns the export's
    `.path`, `.checks` and what it `.takes`."""
    from dlcourse.preflight import export_target, findable_data, finished_run
    from dlcourse.tensorflow_setup import start_tensorflow

    checked = finished_run(_run_path(run))
    export_target(checked, format, _folder(output, "output"))
    if test is None:
        data_dir = findable_data(checked, data_dir, "export")
    start_tensorflow()
    from dlcourse.exporting import export_run

    return export_run(_run_path(run), format, output=output, data_dir=data_dir, test=test)


def _check_tracker(track: str | None) -> None:
    if track not in (None, "mlflow"):
        raise DlcourseError(f"track={track!r}: the one tracker dlcourse knows is 'mlflow'.")


def _run_path(run: Any, *, optional: bool = False) -> Any:
    """A run's directory from its path or the TrainResult of train(); None stays None
    where `optional` (evaluate's latest run)."""
    from dlcourse.errors import RunError

    path = getattr(run, "run_dir", run)
    if not _a_path(path, optional):  # pathlib's TypeError before
        raise RunError(f"A run is its directory's path or what train() returned; got "
                       f"{type(path).__name__} {str(path)[:40]!r}.")
    return path


def _a_path(value: Any, optional: bool) -> bool:
    """A str or any os.PathLike (pytest's tmpdir, PurePosixPath); or None, if `optional`."""
    return value is None and optional or isinstance(value, (str, os.PathLike))


def _folder(value: Any, name: str, what: str = "a folder's path", *,
            optional: bool = True) -> Any:
    """A folder given from Python (None where `optional`): pathlib's TypeError named
    neither the argument nor what it takes."""
    if not _a_path(value, optional):
        shown = repr(value)  # None as None, not 'None'; a long one cut
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise DlcourseError(f"{name}={shown}: expected {what} (a str or a pathlib.Path).")
    return value


def load_config(
    config: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | Sequence[str] = (),
    *,
    smoke: bool = False,
) -> Config:
    """A config file, shipped config's name or dict, validated, with `overrides` applied: what
    `train` would run. Print `.model_dump()` to see every value, defaults included."""
    from dlcourse.config import load_config as load

    return load(config, overrides, smoke=smoke)


def configs() -> list[dict[str, str]]:
    """The configs that ship with dlcourse: name, title, what to expect, and the file.
    Any of the names can be given to `train`."""
    from dlcourse.config.shipped import shipped_configs

    return [shipped.as_dict() for shipped in shipped_configs()]


def lr_find(
    config: str | Path | Mapping[str, Any] | Config,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    data_dir: str | Path | None = None,
    output: str | Path | None = None,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 200,
):
    """The learning-rate range test: from the model's initial weights, raise the rate
    exponentially from `start` to `end` over `steps` batches of the training data and
    record the loss. Returns the measured curve and the suggested rate (`.suggestion`,
    `.rule`, `.set_line()`); the plot is written to `output` (default
    `<config>-lr-find.png` here; `.plot`). No run and no config is changed.
    """
    from dlcourse.config import load_config
    from dlcourse.data import check_findable, check_given_dir
    from dlcourse.tensorflow_setup import start_tensorflow

    check_given_dir(data_dir)
    _check_range_test(start, end, steps)
    path = config
    if not hasattr(config, "fit"):
        config = load_config(config, overrides or {})
    elif overrides:
        raise TypeError("overrides apply to a config file, not to a loaded Config")
    check_findable(config.data, data_dir)
    output = _lr_find_output(Path(output) if output is not None
                             else Path(f"{config.name}-lr-find.png"))
    start_tensorflow()
    from dlcourse.lr_finder import find_learning_rate

    with _naming(path, overrides or (), len(config.model.layers)):
        return find_learning_rate(config, data_dir, output=output, start=start, end=end,
                                  steps=steps)


# What `dlcourse lr-find --steps` takes: the permutations of the data are made up front.
LR_FIND_STEPS = (10, 100_000)


def _check_range_test(start: Any, end: Any, steps: Any) -> None:
    """The range test's numbers as the command line takes them: "30" and 30.5 steps were
    TypeErrors inside the test, and steps had no bound from Python."""
    import math
    import numbers

    from dlcourse.errors import ConfigError

    for name, value in (("start", start), ("end", end)):  # NumPy's numbers are Real too
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                not (math.isfinite(value) and value > 0):
            raise ConfigError(f"lr_find: {name}={value!r}; expected a learning rate above 0.")
    low, high = LR_FIND_STEPS
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or \
            not low <= steps <= high:
        raise ConfigError(f"lr_find: steps={steps!r}; expected a whole number of batches from "
                          f"{low} to {high:,}.")


def _lr_find_output(plot: Path) -> Path:
    """`plot`, checked before the test runs: a format matplotlib draws, not inside a run,
    and replacing only an earlier curve, the plot's and the JSON's beside it."""
    import json

    from dlcourse.comparison import LR_FIND_SIGNATURE, check_plot_target
    from dlcourse.errors import RunError

    curve = plot.with_suffix(".json")
    earlier = None
    if curve.exists():
        try:  # a curve of 100,000 steps is a few MB; more is some other file
            earlier = (json.loads(curve.read_text(encoding="utf-8"))
                       if curve.stat().st_size < 64 << 20 else None)
        except (OSError, ValueError, RecursionError):
            earlier = None
        if not (isinstance(earlier, dict) and "learning_rates" in earlier):
            raise RunError(f"--output {plot}: the curve goes beside it as {curve}, which exists "
                           "and is not an earlier curve; give another name.")
    # Beside an earlier curve, any plot Matplotlib drew is that curve's, signed or not (one
    # from before plots were signed, as the default name's of every earlier lr-find).
    check_plot_target(plot, "--output", "Matplotlib" if earlier else LR_FIND_SIGNATURE)
    return plot


def model_summary_of(
    config: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any] | Sequence[str] = (),
    *,
    data_dir: str | Path | None = None,
) -> tuple[str, str]:
    """(Keras's summary of the model `config` describes, the speed-ups `train` would use, as
    a sentence). Datasets whose shapes the config fixes are not read."""
    from dlcourse.config import load_config
    from dlcourse.data import check_findable, check_given_dir, signature_from_config
    from dlcourse.tensorflow_setup import start_tensorflow

    # A mistake in the config, or missing data that must be read, is told before
    # TensorFlow starts.
    check_given_dir(data_dir)
    loaded = load_config(config, overrides)
    signature = signature_from_config(loaded)
    if signature is None:
        check_findable(loaded.data, data_dir)
    start_tensorflow()
    from dlcourse.execution import plan_execution
    from dlcourse.preparation import model_summary, prepare

    with _naming(config, overrides, len(loaded.model.layers)):
        if signature is None:
            prepared = prepare(loaded, data_dir)
            return prepared.summary(), prepared.plan.sentence()
        plan = plan_execution(loaded)
        return model_summary(loaded, signature, plan), plan.sentence()
