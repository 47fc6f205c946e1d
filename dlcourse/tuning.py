"""Hyperparameter search with KerasTuner over the values a config searches.

KerasTuner picks the values: a HyperModel turns each search expression into `hp.Int`,
`hp.Float` or `hp.Choice` named by its path, puts the picks into the config, and builds
the model with dlcourse's own builder, so a trial's model is exactly the one
`dlcourse train` would build from its config. Trials are scored on the validation split
(never the test split). The tuning directory holds KerasTuner's own state, so an
interrupted search resumes where it stopped: finished trials are reloaded, not rerun.
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import keras_tuner

from dlcourse import reports
from dlcourse.callbacks import InterruptAtEpochEnd, StopIfDiverged, config_callbacks
from dlcourse.config import (
    SMOKE_OVERRIDES,
    Config,
    SearchConfig,
    SearchExpression,
    apply_overrides,
    load_search_config,
    override_texts,
    validate,
)
from dlcourse.config.safe_yaml import dump
from dlcourse.data import Dataset
from dlcourse.data.loading import own_files
from dlcourse.errors import ResumableInterrupt, one_line
from dlcourse.interrupts import signals_ignored
from dlcourse.execution import fit_inputs, plan_execution
from dlcourse.preparation import model_for, prepare, training_digest
from dlcourse.tracking import Tracker, ended_on_error, with_tracking
from dlcourse.training import as_in_a_fresh_process, library_versions, seed_everything
from dlcourse.tune_dir import (
    BEST_CONFIG_FILE,
    HYPERBAND_FACTOR,
    SCORES_PLOT,
    TUNER_PROJECT,
    TuneDir,
    TuningError,
    check_search,
)
from dlcourse.tuning_report import (
    TrialRecord,
    best_config_text,
    ranked,
    scores_figure,
    trials_record,
    trials_table,
)



@dataclass(frozen=True)
class TuneResult:
    """What a search returns: where it wrote, every trial, and the best trial's config."""

    tune_dir: Path
    expressions: tuple[SearchExpression, ...]
    objective: str
    direction: str
    trials: list[TrialRecord]
    best_config: Config | None
    # Why a finished search ran fewer trials than it was given, in a sentence; else None.
    ended_early: str | None = None

    def __repr__(self) -> str:
        completed = [trial for trial in ranked(self.trials, self.direction) if trial.completed]
        best = (f"; best {self.objective} {completed[0].score:.4f} (trial {completed[0].number})"
                if completed else "")
        return reports.result_repr("TuneResult", self.tune_dir.parent.name, str(self.tune_dir),
                                   f"{len(self.trials)} trials, {len(completed)} completed{best}")

    def _repr_html_(self) -> str:
        """In a notebook: the trials best first, the scores plot, where the best config is."""
        import base64
        from html import escape

        table = trials_table(ranked(self.trials, self.direction), self.expressions,
                             self.objective, self.direction, "html")
        plot = self.tune_dir / SCORES_PLOT
        picture = (f'<img style="max-width:60%" alt="scores" src="data:image/png;base64,'
                   f'{base64.b64encode(plot.read_bytes()).decode("ascii")}">'
                   if plot.is_file() else "")
        best = (f"<p>Best config: {escape(str(self.tune_dir / BEST_CONFIG_FILE))}</p>"
                if self.best_config is not None else "<p>No trial completed.</p>")
        return (f"<div><h3>{escape(self.tune_dir.parent.name)}: {len(self.trials)} trials</h3>"
                f"<p style='color:#666'>{escape(str(self.tune_dir))}</p>{table}{best}{picture}</div>")


class TuningInterrupted(ResumableInterrupt):
    """Ctrl-C stopped a search; it knows its directory, so the CLI can say how to resume."""

    def __init__(self, tune_dir: Path):
        super().__init__(tune_dir, "the trials so far are", "dlcourse.resume_tuning",
                         "dlcourse tune --resume")
        self.tune_dir = tune_dir


class ConfigHyperModel(keras_tuner.HyperModel):
    """The models a search config describes, one per choice of its searched values.

    Each trial's model is built and fitted exactly as `dlcourse train` would do it from
    the trial's config: the same builder, execution plan, batches and callbacks.
    """

    def __init__(self, search: SearchConfig, dataset: Dataset, signature):
        super().__init__(name=search.config.name)
        self.search = search
        self.dataset = dataset
        self.signature = signature
        # The tuning's MLflow run, when tracked: each trial is a run nested under it.
        self.tracker: Tracker | None = None
        self.interrupt = InterruptAtEpochEnd()
        self.searching = False  # True inside tuner.search: a failing trial fails alone

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        with self._failing_alone(hp):
            config = self.config_for(hp)
            # Each trial from the config's seed, as `dlcourse train` starts: seeded once
            # per search, a trial drew on from where the trials before it left off, so
            # one rerun after a resume scored otherwise and could change the winner.
            seed_everything(config)
            return model_for(config, self.dataset, self.signature, self._plan(config))

    def fit(self, hp, model, *args, **kwargs):
        with self._failing_alone(hp):
            return self._fit(hp, model, *args, **kwargs)

    @contextmanager
    def _failing_alone(self, hp):
        """In a search, a trial whose values can't build or train (a kernel larger than
        the image, an infinite learning rate) fails alone, said in one line, where
        KerasTuner printed its traceback; the search goes on with other values."""
        if not self.searching:
            yield
            return
        try:
            yield
        except keras_tuner.errors.FatalError:
            raise
        except Exception as error:
            values = ", ".join(f"{path}={_plain_value(value)}" for path, value in hp.values.items())
            reason = one_line(error, 300)
            print(f"Trial failed ({values}): {reason}", file=sys.stderr, flush=True)
            raise keras_tuner.errors.FailedTrialError(reason) from None

    def _fit(self, hp, model, *args, **kwargs):
        config = self.config_for(hp)
        inputs = fit_inputs(config, self.dataset, self._plan(config))
        # Hyperband passes its own epochs per round; the other searches train a trial for
        # the config's epochs (which may themselves be searched).
        kwargs.setdefault("epochs", config.fit.epochs)
        callbacks = [*kwargs.pop("callbacks", []), *inputs.callbacks, StopIfDiverged(),
                     *config_callbacks(config), self.interrupt]
        if self.tracker is None:
            return model.fit(*args, callbacks=callbacks, **inputs.arguments, **kwargs)
        trial = Tracker(self.tracker.settings, name=config.name, parent=self.tracker)
        trial.set_tags({"mlflow.runName": "trial " + ", ".join(
            f"{key}={value}" for key, value in hp.values.items())})
        trial.log_params(hp.values)
        with ended_on_error(trial):
            history = model.fit(*args, callbacks=[*callbacks, trial.callback()],
                                **inputs.arguments, **kwargs)
        trial.end("finished")
        return history

    def _plan(self, config: Config):
        return plan_execution(config, train_samples=len(self.dataset.x_train))

    def config_for(self, hp: keras_tuner.HyperParameters) -> Config:
        """The config of this trial: each expression replaced by KerasTuner's pick."""
        return self.search.with_values(
            {e.path: hyperparameter(hp, e) for e in self.search.expressions}
        )


def hyperparameter(hp: keras_tuner.HyperParameters, expression: SearchExpression) -> Any:
    """Register `expression` with KerasTuner (once; later calls return the trial's value)."""
    if expression.kind == "choice":
        return hp.Choice(expression.path, expression.choices)
    hyperparameter_type = hp.Int if expression.kind == "int" else hp.Float
    return hyperparameter_type(
        expression.path,
        min_value=expression.minimum,
        max_value=expression.maximum,
        step=expression.step,
        sampling=expression.sampling,
    )


def tune(
    search: SearchConfig,
    *,
    algorithm: str = "random",
    trials: int | None = None,
    data_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    smoke: bool = False,
    track: str | None = None,
) -> TuneResult:
    """Search the values `search` leaves open and write a new tuning directory.
    `track="mlflow"` logs the tuning and each trial to MLflow (as output.mlflow does)."""
    if track == "mlflow":
        search = replace(search, config=with_tracking(search.config))
    settings = {
        "config": str(search.source),
        "algorithm": algorithm,
        "max_trials": check_search(search, algorithm, trials, smoke),
        "overrides": [*(override_texts(SMOKE_OVERRIDES) if smoke else []), *overrides],
        # What best_config.yaml keeps: the user's own changes, not the smoke run's limits.
        "user_overrides": list(overrides),
        "smoke": smoke,
        # ... and what --smoke's keys were without it, read now: the file may change later.
        "unreduced": dict(search.unreduced) if smoke and search.unreduced is not None else None,
        # Absolute, so that --resume and best_config.yaml find the data from anywhere:
        # --data-dir, or where the config's own files were found (the current folder).
        "data_dir": _absolute_data_dir(search, data_dir),
    }
    with as_in_a_fresh_process(search.config):
        hypermodel = _hypermodel(search, data_dir)
        # Trials are compared on the same examples: a resume on other data is refused.
        settings["train_digest"] = training_digest(hypermodel.dataset)
        hypermodel.build(keras_tuner.HyperParameters())  # the first values build: fail before any file
        tune_dir = TuneDir.create(output_dir or search.config.output.dir, search.config.name)
        # A resume runs with the config the trials so far did: a hand edit is refused.
        settings["search_config_sha256"] = tune_dir.write_search_config(
            _search_config_text(search, settings))
        return _search(tune_dir, search, hypermodel, settings)


def _absolute_data_dir(search: SearchConfig, data_dir: str | Path | None) -> str | None:
    if data_dir is None and (own := own_files(search.config.data, None)) is not None:
        data_dir = own[0]  # None where every path is absolute: nothing to record
    return str(Path(data_dir).resolve()) if data_dir is not None else None


def resume(tune_dir: TuneDir, search: SearchConfig, settings: dict[str, Any]) -> TuneResult:
    """Continue an interrupted search in `tune_dir` (with what `TuneDir.resumable` read from
    it): finished trials are kept, not rerun."""
    with as_in_a_fresh_process(search.config):
        hypermodel = _hypermodel(search, settings["data_dir"])
        recorded = settings.get("train_digest")  # none in a search from before 2026-12-07
        if recorded is not None and recorded != training_digest(hypermodel.dataset):
            where = settings["data_dir"] or "the config's own places"
            raise TuningError(
                f"The data in {where} is not what "
                f"{tune_dir.path}'s trials so far were trained and scored on, so its trials "
                "could not be compared: resume with that data (--data-dir), or start a new "
                "search on this one.")
        return _search(tune_dir, search, hypermodel, settings)


def _hypermodel(search: SearchConfig, data_dir) -> ConfigHyperModel:
    prepared = prepare(search.config, data_dir)
    return ConfigHyperModel(search, prepared.dataset, prepared.signature)


def _search(
    tune_dir: TuneDir,
    search: SearchConfig,
    hypermodel: ConfigHyperModel,
    settings: dict[str, Any],
) -> TuneResult:
    with tune_dir.search_lock():
        return _search_held(tune_dir, search, hypermodel, settings)


def _search_held(tune_dir: TuneDir, search: SearchConfig, hypermodel: ConfigHyperModel,
                 settings: dict[str, Any]) -> TuneResult:
    config = search.config
    objective, direction = objective_of(config)
    resumed = tune_dir.tuner_directory.is_dir()
    try:  # a resumed search reloads KerasTuner's state from its files
        tuner = _make_tuner(settings, hypermodel, objective, direction, tune_dir, config)
        if resumed:
            _check_trials_there(tuner)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError,
            RuntimeError) as error:  # RuntimeError: KerasTuner's "Error reloading Oracle"
        if not resumed:
            raise
        raise TuningError(
            f"{tune_dir.tuner_directory}: KerasTuner's saved state can't be read "
            f"({one_line(error, 200)}); this search can't be resumed. Start it again with "
            "`dlcourse tune`.") from None
    if settings.get("mlflow_run_id"):  # a tracked search, resumed: its MLflow run goes on
        config = with_tracking(config)
    if config.output.mlflow is not None:
        hypermodel.tracker = Tracker(config.output.mlflow, name=config.name,
                                     resume_id=settings.get("mlflow_run_id"))
        settings["mlflow_run_id"] = hypermodel.tracker.run_id
        hypermodel.tracker.set_tags({"mlflow.runName": f"{config.name}-tune {tune_dir.path.name}",
                                     "dlcourse.tune_dir": str(tune_dir.path.resolve())})
        hypermodel.tracker.log_params({key: settings[key] for key in ("algorithm", "max_trials")})
    settings.update(objective=objective, direction=direction, status="running",
                    started=_now(), versions=_versions())
    settings.pop("ended", None)
    tune_dir.write_settings(settings)
    started = time.perf_counter()
    hypermodel.searching = True
    try:
        with ended_on_error(hypermodel.tracker), hypermodel.interrupt.deferred(), \
                _keras_tuner_output():
            # A live progress bar on a terminal; one line per epoch in logs and CI.
            tuner.search(verbose=1 if sys.stdout.isatty() else 2)
    except KeyboardInterrupt:
        # A second Ctrl-C cut this off: the search said "running" with no best config.
        with signals_ignored():
            _finish(tune_dir, tuner, search, settings, "interrupted", started)
        raise TuningInterrupted(tune_dir.path) from None
    except Exception as error:
        if not (isinstance(error, RuntimeError) and "consecutive failures" in str(error)):
            _finish(tune_dir, tuner, search, settings, "failed", started, error)
            raise
        stopped = TuningError(
            f"{_FAILURES_IN_A_ROW} trials in a row failed, each said above, so the search "
            f"stopped; the trials so far are in {tune_dir.path}. Narrow the searched values "
            "to ones the model and data take, and tune again.")
        _finish(tune_dir, tuner, search, settings, "failed", started, stopped)
        raise stopped from None
    result = replace(_finish(tune_dir, tuner, search, settings, "finished", started),
                     ended_early=_ended_early(search, settings["max_trials"], len(tuner.oracle.trials)))
    if hypermodel.tracker is not None:
        best = settings.get("best") or {}
        hypermodel.tracker.finish_run({"best_score": best.get("score")}, tune_dir.path)
    return result


def _ended_early(search: SearchConfig, asked: int | None, ran: int) -> str | None:
    """KerasTuner ends a search, without a word, once it draws only values it has tried."""
    if asked is None or ran >= asked:
        return None
    counts = [expression.count for expression in search.expressions]
    combinations = math.prod(counts) if None not in counts else None
    every = (f": the searched values make {combinations:,} combination"
             f"{'s' if combinations != 1 else ''}, all of them tried" if combinations == ran
             else ", as KerasTuner found no values it had not tried")
    return f"The search ended after {ran} of {asked} trials{every}."


def _check_trials_there(tuner) -> None:
    """Every trial KerasTuner's oracle started has its folder: a removed trial_0 was a
    KeyError traceback in the middle of the resumed search."""
    missing = [trial for trial in getattr(tuner.oracle, "start_order", [])
               if trial not in tuner.oracle.trials]
    if missing:
        raise ValueError(f"trial_{missing[0]} is missing, though the search started it")


@contextmanager
def _keras_tuner_output():
    """KerasTuner's output, as dlcourse wants it; restored after, for the rest of a notebook.

    - KerasTuner prints each failed trial's traceback while its DEBUG is on (its default);
      dlcourse says what failed in one line (ConfigHyperModel._failing_alone).
    - It takes any process that has IPython installed for a notebook, and "clears" the
      output of a terminal or a log before each trial with escape codes (`^[[2K^M`).
    """
    settings, utils = keras_tuner.src.config, keras_tuner.src.utils
    debug, settings.DEBUG = settings.DEBUG, False
    notebook = utils.IS_NOTEBOOK
    utils.IS_NOTEBOOK = notebook and _in_a_notebook()
    try:
        yield
    finally:
        settings.DEBUG = debug
        utils.IS_NOTEBOOK = notebook


def _in_a_notebook() -> bool:
    """Whether an IPython kernel (not IPython's terminal) runs this code."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "Terminal" not in type(shell).__name__


# KerasTuner stops a search after this many failed trials in a row (its default).
_FAILURES_IN_A_ROW = 3


def objective_of(config: Config) -> tuple[str, str]:
    """What trials are ranked by: validation accuracy when the config measures it, else loss."""
    if "accuracy" in config.compile.metrics:
        return "val_accuracy", "max"
    return "val_loss", "min"


def _make_tuner(settings, hypermodel, objective, direction, tune_dir, config):
    common = dict(
        objective=keras_tuner.Objective(objective, direction),
        directory=str(tune_dir.tuner_directory),
        project_name=TUNER_PROJECT,
        # Reload the trials already in the directory: that is what makes --resume continue.
        overwrite=False,
        seed=config.seed,
    )
    algorithm = settings["algorithm"]
    if algorithm == "hyperband":
        return keras_tuner.Hyperband(
            hypermodel, max_epochs=config.fit.epochs, factor=HYPERBAND_FACTOR, **common
        )
    tuner_class = {
        "random": keras_tuner.RandomSearch,
        "bayesian": keras_tuner.BayesianOptimization,
    }[algorithm]
    return tuner_class(hypermodel, max_trials=settings["max_trials"], **common)


def _finish(tune_dir, tuner, search, settings, status, started, error=None) -> TuneResult:
    """Write the trials so far, the plot and the best config; record how the search ended."""
    objective, direction = settings["objective"], settings["direction"]
    trials = trial_records(tuner, search.expressions)
    if status != "finished":  # the trial it stopped in is not running any more
        trials = [replace(trial, status=status.upper()) if trial.status == "RUNNING" else trial
                  for trial in trials]
    tables = {style: trials_table(ranked(trials, direction), search.expressions, objective,
                                  direction, style) for style in ("csv", "markdown")}
    tune_dir.write_trials(trials_record(trials, objective, direction), tables)
    figure = scores_figure(trials, search.expressions, objective)
    if figure is not None:
        tune_dir.save_scores_plot(figure)
    best = next((trial for trial in ranked(trials, direction) if trial.completed), None)
    best_config = None
    if best is not None:
        best_config = _best_config(search, settings, best)
        header = _best_config_header(tune_dir, search, settings, best, len(trials))
        tune_dir.write_best_config(best_config_text(best_config, header))
        settings["best"] = {"trial": best.trial_id, "score": best.score, "values": best.values}
    settings.update(
        status=status,
        ended=_now(),
        trials_completed=sum(trial.completed for trial in trials),
        seconds=settings.get("seconds", 0.0) + time.perf_counter() - started,
    )
    if error is not None:
        settings["error"] = f"{type(error).__name__}: {error}"
    tune_dir.write_settings(settings)
    return TuneResult(tune_dir.path.absolute(), search.expressions, objective, direction, trials,
                      best_config)


def trial_records(tuner, expressions: Sequence[SearchExpression]) -> list[TrialRecord]:
    """KerasTuner's trials as plain records, holding only the values the config searches."""
    records = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        values = trial.hyperparameters.values
        records.append(
            TrialRecord(
                trial_id=trial_id,
                status=str(trial.status),
                score=None if trial.score is None else float(trial.score),
                # KerasTuner's best_step is 0 until an epoch is scored: a trial stopped in
                # its first epoch was listed at "epoch 1".
                best_epoch=None if trial.best_step is None or trial.score is None
                else int(trial.best_step) + 1,
                values={e.path: values[e.path] for e in expressions if e.path in values},
            )
        )
    return records


def _best_config(search: SearchConfig, settings: Mapping[str, Any], best: TrialRecord) -> Config:
    """The best trial's values in the config as the user gave it: without --smoke's limits
    (the search ran reduced, the config is for training in earnest), with the user's --set
    values, and with the data directory the search read, so training it finds the data."""
    config = search.with_values(best.values)
    if settings.get("smoke") and isinstance(settings.get("unreduced"), dict):
        raw = config.model_dump(mode="json", exclude_none=True)
        config = validate(apply_overrides(raw, settings["unreduced"]), source=search.source)
    elif settings.get("smoke") and Path(settings["config"]).is_file():  # tuned before 2026-12-06
        unreduced = load_search_config(settings["config"], settings.get("user_overrides", []))
        config = unreduced.with_values(best.values)
    data = config.data
    if settings.get("data_dir") and data.dir is None:
        data = data.model_copy(update={"dir": settings["data_dir"]})
    return config.model_copy(update={"name": f"{search.config.name}-best", "data": data})


def _best_config_header(tune_dir, search, settings, best: TrialRecord, count: int) -> list[str]:
    smoke = bool(settings.get("smoke"))
    if "user_overrides" in settings:  # --smoke's own items are said as --smoke
        given = settings["user_overrides"]
        items = ["--smoke"] * smoke + [f"--set {item}" for item in given]
    else:  # tuned before 2026-12-06: --smoke's items and the user's, together
        given, items = [], [f"--set {item}" for item in settings["overrides"]]
    overrides = " ".join(items)
    algorithm = {"random": "random search", "bayesian": "Bayesian optimisation",
                 "hyperband": "Hyperband"}[settings["algorithm"]]
    lines = [
        f"The best of {count} trials of `dlcourse tune` ({algorithm}): "
        f"{settings['objective']} {best.score:.4f} in trial #{best.number}, "
        f"epoch {best.best_epoch}.",
        f"Tuned from {search.source}" + (f" with {overrides}" if overrides else "") + ".",
        *(["The search ran with --smoke (a subset, 1 epoch); this config leaves that out, "
           "so it trains on what the file says" + (" and the --set values above."
                                                   if given else ".")] if smoke else []),
        *([f"data.dir is where the search read its data: {settings['data_dir']}"]
          if settings.get("data_dir") else []),
        f"Tuning directory: {tune_dir.path}",
        "Values found:",
        *(
            f"  {e.path}: {_plain_value(best.values.get(e.path))}   (searched: {e.describe()})"
            for e in search.expressions
        ),
        f"Train it: dlcourse train {tune_dir.best_config_path}",
        "",
    ]
    return lines


def _plain_value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _search_config_text(search: SearchConfig, settings: Mapping[str, Any]) -> str:
    overrides = " ".join(f"--set {item}" for item in settings["overrides"]) or "no overrides"
    header = (
        f"# The config this tuning run searches: {search.source} with {overrides}.\n"
        "# `dlcourse tune --resume` reads it from here.\n"
    )
    return header + dump(search.raw, sort_keys=False)


def _versions() -> dict[str, str]:
    return {**library_versions(), "keras_tuner": keras_tuner.__version__}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
