"""Tuning directories: the one module that knows a tuning run's files.

A tuning run lives in `<output dir>/<config name>-tune/<UTC time>/`: tuning.json (its
settings and how it ended), search_config.yaml (the config it searches, for --resume),
trials.json/.csv/.md (every trial, best first), scores.png, best_config.yaml (the best
trial's config, for `dlcourse train`), and keras_tuner/ (KerasTuner's own state).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
from pathlib import Path
from typing import Any, Iterator, Mapping

from dlcourse.config import SearchConfig, check_search_config
from dlcourse.config.datasets import DATA_PLACES
from dlcourse.errors import DlcourseError
from dlcourse.rundir import (
    LOCK_FILE,
    create_run_dir,
    held,
    read_json,
    read_config_mapping,
    write_json,
    write_text,
    written_atomically,
)

TUNING_FILE = "tuning.json"
SEARCH_CONFIG_FILE = "search_config.yaml"
TRIALS_FILE = "trials.json"
TRIAL_TABLES = {"csv": "trials.csv", "markdown": "trials.md"}
SCORES_PLOT = "scores.png"
BEST_CONFIG_FILE = "best_config.yaml"
# KerasTuner's state (oracle, trials, checkpoints) lives in <tune dir>/keras_tuner/search.
TUNER_DIR = "keras_tuner"
TUNER_PROJECT = "search"
ALGORITHMS = ("random", "bayesian", "hyperband")
DEFAULT_TRIALS = 10
SMOKE_TRIALS = 2
HYPERBAND_FACTOR = 3
# What its files' problems call it ("is the tuning directory damaged?").
TUNING_DIRECTORY = "tuning directory"


class TuningError(DlcourseError):
    """A config or a tuning directory that can't be tuned as asked."""


def is_tuning_dir(path: Path) -> bool:
    return (path / TUNING_FILE).is_file() and (path / SEARCH_CONFIG_FILE).is_file()


class TuneDir:
    """One tuning directory: every file it holds, read and written here only."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, output_dir: str | Path, config_name: str) -> TuneDir:
        return cls(create_run_dir(output_dir, f"{config_name}-tune"))

    def require(self) -> TuneDir:
        if not is_tuning_dir(self.path):
            raise TuningError(
                f"{self.path} is not a tuning directory (no {TUNING_FILE} or "
                f"{SEARCH_CONFIG_FILE}); pass the directory `dlcourse tune` printed, e.g. "
                "runs/<name>-tune/<time>."
            )
        return self

    @property
    def tuner_directory(self) -> Path:
        return self.path / TUNER_DIR

    def write_settings(self, settings: Mapping[str, Any]) -> None:
        write_json(self.path / TUNING_FILE, dict(settings))

    def read_settings(self) -> dict[str, Any]:
        settings = read_json(self.path / TUNING_FILE, folder=TUNING_DIRECTORY)
        if not isinstance(settings, dict):
            raise TuningError(f"{self.path / TUNING_FILE}: expected a JSON object.")
        return settings

    @contextlib.contextmanager
    def search_lock(self) -> Iterator[None]:
        """Hold this search for the one process that runs it: a second `--resume` ran the
        same trial into the same folder."""
        with held(self.path / LOCK_FILE, f"{self.path} is being searched by process {{holder}} "
                  "right now; wait for it, or stop it first."):
            yield

    def resumable(self, data_dir: str | Path | None = None) -> tuple[SearchConfig, dict[str, Any]]:
        """(the search to resume, its settings), `data_dir` replacing the recorded one when
        given. Reads no data and needs no TensorFlow, so `tune --resume` checks it first:
        a search another process runs, or one that finished, is refused."""
        with self.search_lock():
            settings = self.read_settings()
        _check_settings(self.path / TUNING_FILE, settings)
        if (self.path / TRIALS_FILE).exists() and not self.tuner_directory.is_dir():
            raise TuningError(f"{self.tuner_directory} is gone: KerasTuner's record of the trials "
                              f"run. Resuming would run them all again over {TRIALS_FILE}; "
                              "start a new search with `dlcourse tune` instead.")
        if settings.get("status") == "failed" and "trials in a row failed" in str(settings.get("error")):
            raise TuningError(f"{self.path}: this search stopped on trials that failed in a row; "
                              "resumed, it would retry the last of them and stop again. Narrow "
                              "the searched values and start a new search with `dlcourse tune`.")
        if settings.get("status") == "finished":
            raise TuningError(f"{self.path}: this search has finished; there is nothing to "
                              "resume. Its best config is best_config.yaml; to search more, "
                              "start a new one with `dlcourse tune`.")
        self._check_search_config_unchanged(settings)
        search = check_search_config(self.read_search_config(), Path(settings["config"]))
        if data_dir is not None:
            settings["data_dir"] = str(Path(data_dir).resolve())
        return search, settings

    def _check_search_config_unchanged(self, settings: Mapping[str, Any]) -> None:
        """search_config.yaml as the search wrote it: KerasTuner's saved space wins over an
        edited range (units 16 ran for min: 100), and a swapped config's trials were ranked
        beside the first ones. A search from before 2026-12-07 has no digest to compare."""
        recorded = settings.get("search_config_sha256")
        if recorded is None:
            return
        try:
            now = search_config_digest(self.read_search_config())
        except DlcourseError:
            return  # reading it below says what is wrong
        if now != recorded:
            raise TuningError(
                f"{self.path / SEARCH_CONFIG_FILE} was changed after the search started, so "
                "its trials so far ran another config. Put the file back as it was, or start "
                f"a new search on the changed one: dlcourse tune {self.path / SEARCH_CONFIG_FILE}.")

    def write_search_config(self, text: str) -> str:
        """Write search_config.yaml; its digest (search_config_digest), for tuning.json."""
        write_text(self.path / SEARCH_CONFIG_FILE, text)
        return search_config_digest(self.read_search_config())

    def read_search_config(self) -> dict[str, Any]:
        return read_config_mapping(self.path / SEARCH_CONFIG_FILE, TUNING_DIRECTORY)

    def write_trials(self, trials: Mapping[str, Any], tables: Mapping[str, str]) -> None:
        """trials.json, and the same trials as a table in each format ('csv', 'markdown')."""
        write_json(self.path / TRIALS_FILE, dict(trials))
        for style, text in tables.items():
            write_text(self.path / TRIAL_TABLES[style], text)

    def save_scores_plot(self, figure) -> None:
        with written_atomically(self.path / SCORES_PLOT) as temporary:
            figure.savefig(temporary, dpi=100)

    @property
    def best_config_path(self) -> Path:
        return self.path / BEST_CONFIG_FILE

    def write_best_config(self, text: str) -> None:
        write_text(self.best_config_path, text)


# A search's trials take a minute or more each: 10,000 are a week on a GPU.
MOST_TRIALS = 10_000


def _check_settings(path: Path, settings: Mapping[str, Any]) -> None:
    """What a resumed search reads from tuning.json, checked: a damaged file is named,
    not met later as a KeyError."""
    checks = {
        "config": (lambda v: isinstance(v, str), "the searched config's path"),
        "algorithm": (lambda v: v in ALGORITHMS, f"one of {', '.join(ALGORITHMS)}"),
        "max_trials": (lambda v: v is None or type(v) is int and 0 < v <= MOST_TRIALS,
                       f"a whole number from 1 to {MOST_TRIALS:,}"),
        "overrides": (lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
                      "a list of KEY=VALUE texts"),
        "data_dir": (lambda v: v is None or isinstance(v, str), "a folder's path"),
    }
    for key, (valid, expected) in checks.items():
        if key not in settings or not valid(settings[key]):
            found = repr(settings[key])[:80] if key in settings else "nothing"
            raise TuningError(
                f"{path} is damaged: its {key!r} should be {expected}, found {found}. "
                "Start the search again with `dlcourse tune`."
            )


def check_search(search: SearchConfig, algorithm: str, trials: int | None, smoke: bool) -> int | None:
    """The number of trials to run (None: Hyperband decides), once `search` is checked to
    be one that can run as asked. Without TensorFlow: `tune` says so before its start."""
    source, fit = search.source, search.config.fit
    if not search.expressions:
        raise TuningError(
            f"{source} searches no values, so there is nothing to tune. Replace a value "
            "with a search expression, e.g. units: {tune: int, min: 16, max: 128, step: 16}, "
            "or train it with `dlcourse train`."
        )
    if fit.validation == "test":
        raise TuningError(
            f"{source} validates on the test split (fit.validation: test). Tuning picks "
            "values by their validation score, and picking them on the test split would make "
            "its test accuracy optimistic. Hold out part of the training data instead: "
            "--set fit.validation=null --set fit.validation_split=0.2"
        )
    if fit.validation_split is None:
        raise TuningError(
            f"{source} has no validation data, and tuning picks values by their validation "
            "score. Hold out part of the training data: --set fit.validation_split=0.2"
        )
    if search.config.distribution.strategy != "none":
        raise TuningError(
            f"{source} trains with distribution.strategy {search.config.distribution.strategy}, "
            "but tuning runs its trials in one process. Tune with --set "
            "distribution.strategy=none, then train best_config.yaml with the strategy."
        )
    return _trial_count(search, algorithm, trials, smoke)


def search_config_digest(raw: Mapping[str, Any]) -> str:
    """What a search ran, as a digest: the parsed config (comments, layout and line ends
    aside) without where its data is (data.dir and the data's paths, which may be moved;
    the examples themselves are compared by their own digest)."""
    data = raw.get("data")
    if isinstance(data, Mapping):
        raw = {**raw, "data": {key: value for key, value in data.items()
                               if key not in DATA_PLACES}}
    canonical = json.dumps(raw, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def hyperband_models(max_epochs: int, factor: int = HYPERBAND_FACTOR) -> int:
    """How many models one Hyperband iteration starts at least (Li et al. 2018; KerasTuner
    sizes its brackets a little larger): a bracket per power of `factor` up to
    `max_epochs`, the widest starting factor^s_max models. fit.epochs of a billion
    started 3^18."""
    s_max = 0
    while factor ** (s_max + 1) <= max_epochs:
        s_max += 1
    return sum(math.ceil((s_max + 1) / (s + 1) * factor ** s) for s in range(s_max + 1))


def _trial_count(search: SearchConfig, algorithm: str, trials: int | None, smoke: bool) -> int | None:
    if algorithm not in ALGORITHMS:
        raise TuningError(f"Unknown search algorithm {algorithm!r}; expected one of {ALGORITHMS}.")
    # From Python, 0 searched without end; a trillion, as good as. NumPy's integers are
    # whole numbers too, as overrides take them.
    if trials is not None:
        if isinstance(trials, bool) or not isinstance(trials, numbers.Integral) \
                or not 1 <= trials <= MOST_TRIALS:
            raise TuningError(f"{trials!r} trials: expected a whole number of trials from 1 "
                              f"to {MOST_TRIALS:,}.")
        trials = int(trials)
    if algorithm == "hyperband":
        if trials is not None:
            raise TuningError(
                "Hyperband decides how many trials to run from fit.epochs (its max_epochs) "
                f"and its factor {HYPERBAND_FACTOR}; leave out --trials, or choose "
                "--algorithm random or bayesian."
            )
        if "fit.epochs" in {expression.path for expression in search.expressions}:
            raise TuningError(
                f"{search.source} searches fit.epochs, but Hyperband sets each trial's epochs "
                "itself (up to fit.epochs); fix fit.epochs, or choose --algorithm random or "
                "bayesian."
            )
        if (models := hyperband_models(search.config.fit.epochs)) > MOST_TRIALS:
            raise TuningError(
                f"Hyperband with fit.epochs {search.config.fit.epochs:,} (its max_epochs) and "
                f"factor {HYPERBAND_FACTOR} would train at least {models:,} models, more than "
                f"the {MOST_TRIALS:,} a search may; lower fit.epochs, or choose --algorithm "
                "random or bayesian with --trials.")
        return None
    if smoke:
        return SMOKE_TRIALS
    return DEFAULT_TRIALS if trials is None else trials
