"""Loading a config: the file read safely, `--smoke` and `--set` applied, validated once.

A config may hold search expressions (`units: {tune: int, ...}`) for `dlcourse tune`.
`load_search_config` finds and checks them, then validates the rest of the config with
each expression at its first value, and again with each of its other extremes (a range's
max, every choice), so a range that leaves what the layer accepts is reported at load
rather than in trial 7. `load_config` loads a config that describes one model.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import ValidationError

from dlcourse.config.overrides import apply_overrides, attributions, override_texts, plain_data
from dlcourse.config.problems import describe, is_at, raise_problems
from dlcourse.config.safe_yaml import read_yaml_file
from dlcourse.config.search import SearchExpression, find_expressions, substitute
from dlcourse.config.sections import Config, known_keys
from dlcourse.config.shipped import closest_shipped, resolve, shipped_configs
from dlcourse.errors import ConfigError

# What `--smoke` changes: a tiny subset and one epoch, enough to exercise every code path.
SMOKE_OVERRIDES: dict[str, Any] = {"data.limit": 256, "fit.epochs": 1}
# How problems name a config given from Python as a dict, which has no file.
FROM_A_DICT = Path("<config dict>")

ConfigSource = str | Path | Mapping[str, Any]


def source_of(path: ConfigSource) -> Path:
    """The file a config comes from, or FROM_A_DICT: what its problems are told of."""
    return FROM_A_DICT if isinstance(path, Mapping) else resolve(path)


def load_config(
    path: ConfigSource,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    smoke: bool = False,
) -> Config:
    """Read, override and validate a config file (or a dict of the same sections, from
    Python). Raises ConfigError naming the problem.

    A config with search expressions describes many models, not one: it is refused here
    with a pointer to `dlcourse tune`, which searches them.
    """
    search = load_search_config(path, overrides, smoke=smoke)
    if search.expressions:
        paths = ", ".join(expression.path for expression in search.expressions)
        given = isinstance(path, Mapping)
        raise ConfigError(
            f"{FROM_A_DICT if given else path}: searches {len(search.expressions)} "
            f"value{'s' if len(search.expressions) != 1 else ''} "
            f"({paths}), so it describes many models, not one. Search them with "
            f"{'dlcourse.tune(...)' if given else f'`dlcourse tune {path}`'}, then train "
            "the best_config.yaml it writes."
        )
    return search.config


@dataclass(frozen=True)
class SearchConfig:
    """A config that may hold search expressions, checked as a whole.

    `config` is the config with each expression at its first value; `with_values`
    gives the config of one trial.
    """

    raw: dict[str, Any]
    expressions: tuple[SearchExpression, ...]
    config: Config
    source: Path
    # Under --smoke: what its keys were without it (the file with the user's --set), for
    # the best config a smoke search writes; read at load, as a dict config has no file.
    unreduced: Mapping[str, Any] | None = None

    def with_values(self, values: Mapping[str, Any]) -> Config:
        """The config with each expression replaced by `values[its path]`."""
        return validate(substitute(self.raw, self.expressions, values), source=self.source)


def load_search_config(
    path: ConfigSource,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    smoke: bool = False,
) -> SearchConfig:
    """Read a config file that may search values; raises ConfigError listing every problem."""
    raw = read_raw_config(path, overrides, smoke=smoke)
    search = check_search_config(raw, source_of(path), attributions(overrides))
    if not smoke:
        return search
    plain = load_search_config(path, overrides).config
    return replace(search, unreduced={key: _value_at(plain, key) for key in SMOKE_OVERRIDES})


def _value_at(config: Config, dotted: str) -> Any:
    """The value at a dotted path of a config: _value_at(config, "fit.epochs")."""
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def read_raw_config(
    path: ConfigSource,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    smoke: bool = False,
) -> dict[str, Any]:
    """A config file as a mapping, named after the file, with `--smoke` and `--set` applied.
    A bare name (`imdb_lstm`) that is no file here is a shipped config; a dict is the
    config itself, named `config` unless it says otherwise."""
    if type(smoke).__name__ not in ("bool", "bool_"):  # numpy's True too
        # smoke="no" from Python was a smoke run, unsaid.
        raise ConfigError(f"smoke={str(smoke)[:40]!r}: expected True or False.")
    if isinstance(path, Mapping):
        raw = {"name": "config", **plain_data(path, told_of=f"{FROM_A_DICT}: ")}
        if smoke:
            raw = apply_overrides(raw, SMOKE_OVERRIDES, source=FROM_A_DICT)
        return apply_overrides(raw, overrides, source=FROM_A_DICT)
    if not isinstance(path, (str, Path)):
        raise ConfigError(f"A config is a YAML file's path, a shipped config's name or a dict "
                          f"of its sections; got {type(path).__name__}.")
    path = resolve(path)
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: no such config file, and no shipped config of that name "
                          f"(`dlcourse configs` lists them){closest_shipped(path)}.")
    raw = read_yaml_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping with data, model, compile and fit sections, "
            f"got {type(raw).__name__}."
        )
    raw.setdefault("name", name_from_file(path))
    if smoke:
        raw = apply_overrides(raw, SMOKE_OVERRIDES, source=path)
    return apply_overrides(raw, overrides, source=path)


def name_from_file(path: Path) -> str:
    """A config's default name, its runs' folder: the file's name, each character a run
    name can't hold made '_'. "my config.yaml" was refused for a `name` nobody wrote."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem).lstrip("_.-")[:100]
    return name or "config"


def check_search_config(
    raw: dict[str, Any], source: Path, overrides: Sequence[tuple[str, str]] = ()
) -> SearchConfig:
    """Find and check the search expressions of a raw config, then validate the rest.
    `overrides`, (key, as given) of those applied to `raw`, are named with the problems
    they made."""
    expressions, problems = find_expressions(raw)
    if problems:
        raise_problems(source, problems, overrides)
    first = {expression.path: expression.first for expression in expressions}
    representative = substitute(raw, expressions, first)
    # A problem at a searched value is one of its choices' (the first), and says so.
    problems = [next((_searched_by(problem, expression) for expression in expressions
                      if is_at(problem, expression.path)), problem)
                for problem in schema_problems(representative)]
    if not problems:
        problems = _problems_at_the_extremes(raw, expressions, first)
    if problems:
        raise_problems(source, problems, overrides)
    config = validate(representative, source)
    if problems := _losses_ranked_apart(config, expressions):
        raise_problems(source, problems, overrides)
    return SearchConfig(raw, tuple(expressions), config, source)


def _losses_ranked_apart(config: Config, expressions: Sequence[SearchExpression]) -> list[str]:
    """A search ranks its trials by val_accuracy where the config measures accuracy, else
    by val_loss (dlcourse.tuning.objective_of), which each loss measures on its own scale:
    mean_absolute_error's 3.8 'beat' mean_squared_error's 23.8."""
    if "accuracy" in config.compile.metrics:
        return []
    return [f"{expression.path}: can't be searched here: the trials are ranked by val_loss, "
            "which each loss measures on a scale of its own; add accuracy to compile.metrics "
            "to rank them by val_accuracy, or tune with one loss at a time"
            for expression in expressions if expression.path == "compile.loss"]


def _problems_at_the_extremes(
    raw: dict[str, Any], expressions: Sequence[SearchExpression], first: Mapping[str, Any]
) -> list[str]:
    problems: list[str] = []
    for expression in expressions:
        for value in expression.extremes[1:]:
            variant = substitute(raw, expressions, {**first, expression.path: value})
            problems += [_searched_by(problem, expression) for problem in schema_problems(variant)]
    return problems


def _searched_by(problem: str, expression: SearchExpression) -> str:
    return f"{problem} (searched by {expression.path}: {expression.describe()})"


def validate(raw: dict[str, Any], source: str | Path = "<config>") -> Config:
    """Validate a parsed config; every problem is reported with its path."""
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise_problems(source, _described(error))


def renamed(config: Config, name: str) -> Config:
    """`config` with another run name, checked as a name in a file is."""
    return validate({**dict(config), "name": name}, source="name=")


def schema_problems(raw: dict[str, Any]) -> list[str]:
    """What `validate` would report about `raw`, one line each; empty when it is valid."""
    try:
        Config.model_validate(raw)
    except ValidationError as error:
        return _described(error)
    return []


def _described(error: ValidationError) -> list[str]:
    return [describe(item, known_keys) for item in error.errors()]


# The data settings that choose which examples a run learns and is tested on (not where
# they are, nor how they are encoded): changed, the run is on other data than the file's.
EXAMPLES_KEYS = ("dataset", "format", "train", "test", "text_field", "target", "path",
                 "test_path", "test_split")


@dataclass(frozen=True)
class Origin:
    """Where a run's config came from: its file, what the command line changed in it, and
    what of that makes the run smaller than the file describes (so its results can't be
    set beside published ones)."""

    file: str | None = None
    overrides: tuple[str, ...] = ()
    reduced: tuple[str, ...] = ()
    # What makes the run's examples others than the file's ("data.train=mine.csv", data
    # from Python): its results can't be set beside the published ones either.
    other_data: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        record = {"config_file": self.file, "overrides": list(self.overrides),
                  "reduced": list(self.reduced)}
        if self.other_data:
            record["other_data"] = list(self.other_data)
        return record


def origin_of(
    path: ConfigSource | None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    smoke: bool = False,
    config: Config,
) -> Origin:
    """The Origin of `config`, loaded from `path` with `overrides` (and `--smoke`)."""
    texts = (["--smoke"] if smoke else []) + override_texts(overrides)
    reduced: list[str] = []
    if smoke:
        reduced.append(f"--smoke ({SMOKE_OVERRIDES['data.limit']} examples, "
                       f"{SMOKE_OVERRIDES['fit.epochs']} epoch)")
    baseline = _file_as_it_is(path)
    # Published figures are of the whole dataset: any limit, in the file or given here,
    # makes a run that can't be set beside them.
    if not smoke and config.data.limit is not None:
        reduced.append(f"data.limit={config.data.limit}")
    # Fewer epochs than the file says, or than its reference's published run took (a copy
    # edited to 2 epochs said "the config says 10", which it no longer did).
    in_file = baseline.fit.epochs if baseline else None
    published = config.reference.epochs if config.reference else None
    if not smoke and in_file is not None and config.fit.epochs < in_file:
        reduced.append(f"fit.epochs={config.fit.epochs} (the config says {in_file})")
    elif not smoke and published is not None and config.fit.epochs < published:
        reduced.append(f"fit.epochs={config.fit.epochs} (the published run took {published})")
    # Against the data of the published figure (a shipped config's): a copy of mnist_cnn
    # edited to Fashion-MNIST keeps MNIST's reference; else the file as it is.
    theirs = _published_data(config) or (baseline.data.model_dump() if baseline else {})
    other = [f"data.{key}={getattr(config.data, key)}" for key in EXAMPLES_KEYS
             if theirs and not _same_setting(key, getattr(config.data, key), theirs.get(key))]
    file = None if path is None or isinstance(path, Mapping) else str(resolve(path).resolve())
    return Origin(file, tuple(texts), tuple(reduced), tuple(other))


# Unset, these read as their defaults: `--set data.text_field=text` is the same data.
_EXAMPLES_DEFAULTS = {"text_field": "text", "target": "label"}
_PATH_KEYS = frozenset({"train", "test", "path", "test_path"})


def _same_setting(key: str, mine: Any, theirs: Any) -> bool:
    """Whether two values of data.`key` choose the same examples."""
    mine, theirs = (_EXAMPLES_DEFAULTS.get(key) if value is None else value
                    for value in (mine, theirs))
    if mine == theirs:
        return True
    if key in _PATH_KEYS and isinstance(mine, str) and isinstance(theirs, str):
        # A pattern given absolutely, or from a data folder, names the same files.
        mine, theirs = (os.path.normpath(value) for value in (mine, theirs))
        return mine == theirs or mine.endswith(os.sep + theirs) or theirs.endswith(os.sep + mine)
    return False


def _published_data(config: Config) -> dict[str, Any] | None:
    """The data section of the shipped config whose reference `config` carries, or None."""
    if config.reference is None:
        return None
    published = config.reference.model_dump(exclude={"epochs"})
    for shipped in shipped_configs():
        try:
            raw = read_yaml_file(shipped.path)
        except ConfigError:
            continue
        reference = raw.get("reference") if isinstance(raw, dict) else None
        if isinstance(reference, dict) and all(
                reference.get(key) == value for key, value in published.items()):
            data = raw.get("data")
            return data if isinstance(data, dict) else None
    return None


def _file_as_it_is(path: ConfigSource | None) -> Config | None:
    if path is None:
        return None
    try:
        return load_search_config(path).config
    except ConfigError:  # the file is only valid with its overrides: nothing to compare
        return None
