"""Search expressions: values of a config that `dlcourse tune` searches instead of fixing.

Any number or choice in the model, compile or fit sections can be a search expression:

    units: {tune: int, min: 16, max: 128, step: 16}
    learning_rate: {tune: float, min: 1e-4, max: 1e-2, sampling: log}
    activation: {tune: choice, values: [relu, tanh]}

The grammar is defined once, here: the parser below and the JSON Schema editors use
(`expression_schema`) are both read from it. A pass over the raw config finds the
expressions and names each by its path (`model.layers[1].LSTM.units`); how the rest of
the config is then checked is dlcourse.config.loading's.
"""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from dlcourse.config.problems import did_you_mean, format_path

TUNE_KEY = "tune"
KINDS = ("int", "float", "choice")
KEYS = {
    "int": ("min", "max", "step", "sampling"),
    "float": ("min", "max", "step", "sampling"),
    "choice": ("values",),
}
REQUIRED_KEYS = {"int": ("min", "max"), "float": ("min", "max"), "choice": ("values",)}
SAMPLINGS = ("linear", "log")
SEARCHABLE_SECTIONS = ("model", "compile", "fit")
# What stays fixed in a search, and why. Trials are compared on the same validation
# examples, so what picks them stays fixed; and the objective (val_accuracy) is one of the
# metrics, so a trial without it could not be scored: KerasTuner failed it silently.
_SAME_EXAMPLES = ("the data and the validation split stay fixed so that trials are compared "
                  "on the same examples")
FIXED_KEYS = {
    "fit.validation_split": _SAME_EXAMPLES,
    "fit.validation": _SAME_EXAMPLES,
    "compile.metrics": "each trial is scored by one of the metrics, its objective, which "
                       "every trial must measure",
}
# A search tries tens of trials. Loading checks the config with each choice in it, so
# these bound that work: 20,000 choices in a 130 KB file took `validate` over 2 minutes.
MOST_CHOICES = 1000
MOST_EXPRESSIONS = 100
# And all expressions' together: 98 choices of 1,000 values each, within both bounds,
# took `validate` 77 s with no line printed.
MOST_VALUES_CHECKED = 2000

# YAML 1.1, which PyYAML reads, takes `1e-4` (no dot) for a string. The schema accepts
# such strings for numbers, so search ranges and choices do too.
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


@dataclass(frozen=True)
class SearchExpression:
    """One searched value: where it sits in the config and the values it may take."""

    location: tuple[str | int, ...]
    kind: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    step: int | float | None = None
    sampling: str = "linear"
    values: tuple[Any, ...] = ()

    @property
    def path(self) -> str:
        """The name of the value, and of its KerasTuner hyperparameter."""
        return format_path(self.location)

    @property
    def first(self) -> Any:
        """The value the rest of the config is checked with (KerasTuner's default too)."""
        return self.values[0] if self.kind == "choice" else self.minimum

    @property
    def choices(self) -> list[Any]:
        """A choice's values for KerasTuner, which takes one type: [0, 0.5] as floats. Kept
        as written until then, so that [16, 32.5] for an integer is refused for 32.5."""
        if any(isinstance(value, float) for value in self.values):
            return [float(value) for value in self.values]
        return list(self.values)

    @property
    def extremes(self) -> tuple[Any, ...]:
        """Values that, if the config accepts them, show the whole range is acceptable."""
        return self.values if self.kind == "choice" else (self.minimum, self.maximum)

    @property
    def count(self) -> int | None:
        """How many values KerasTuner can pick here, where they are few enough to count: a
        choice's, or a range's with a step (an int's step is 1 unless given); else None."""
        if self.kind == "choice":
            return len(self.values)
        step = self.step if self.step is not None or self.kind == "float" else 1
        if step is None or (self.sampling == "log" and self.step is None):
            return None
        if self.sampling == "log":
            return int(math.log(self.maximum / self.minimum) / math.log(step) + 1e-9) + 1
        return int((self.maximum - self.minimum) / step + 1e-9) + 1

    def describe(self) -> str:
        """`int 16..128 step 16`, `float 0.0001..0.01 log`, `choice relu, tanh`."""
        if self.kind == "choice":
            return "choice " + ", ".join(str(value) for value in self.values)
        text = f"{self.kind} {self.minimum}..{self.maximum}"
        if self.step is not None:
            text += f" step {self.step}"
        return text + (" log" if self.sampling == "log" else "")


def substitute(
    raw: dict[str, Any], expressions: Sequence[SearchExpression], values: Mapping[str, Any]
) -> dict[str, Any]:
    """A copy of `raw` with each expression replaced by its value in `values`. Built afresh
    around the expressions rather than deep-copied with them: a copy of every choice list
    for every value checked made loading quadratic in the choices."""
    replaced = {expression.location: values[expression.path] for expression in expressions}

    def rebuilt(node: Any, location: tuple[str | int, ...]) -> Any:
        if location in replaced:
            return copy.deepcopy(replaced[location])
        if isinstance(node, dict):
            return {key: rebuilt(value, (*location, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [rebuilt(value, (*location, index)) for index, value in enumerate(node)]
        return node  # a string, number, boolean or None: nothing to share by mistake

    return rebuilt(raw, ())


def find_expressions(raw: Any) -> tuple[list[SearchExpression], list[str]]:
    """Every search expression in `raw`, in file order, and the problems found in them."""
    expressions: list[SearchExpression] = []
    problems: list[str] = []
    for location, node in _expression_nodes(raw, ()):
        found, found_problems = parse_expression(location, node)
        problems += found_problems
        if found is not None:
            expressions.append(found)
    if len(expressions) > MOST_EXPRESSIONS:
        problems.append(f"{len(expressions):,} values are searched, more than the "
                        f"{MOST_EXPRESSIONS} a search can tell apart in its trials; fix most of them.")
    elif (checked := sum(len(expression.extremes) for expression in expressions)) \
            > MOST_VALUES_CHECKED:
        problems.append(f"the search expressions list {checked:,} values in all, more than the "
                        f"{MOST_VALUES_CHECKED:,} a config is checked with; fix some of them, or "
                        "search a range (tune: int) instead of listing its values.")
    return expressions, problems


def _expression_nodes(node: Any, location: tuple[str | int, ...]):
    if isinstance(node, dict) and TUNE_KEY in node:
        yield location, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _expression_nodes(value, (*location, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _expression_nodes(value, (*location, index))


def parse_expression(
    location: tuple[str | int, ...], node: dict[str, Any]
) -> tuple[SearchExpression | None, list[str]]:
    """The expression at `location`, or None and the reasons it is not a valid one."""
    path = format_path(location)
    fixed = next((why for key, why in FIXED_KEYS.items()
                  if path == key or path.startswith((f"{key}[", f"{key}."))), None)
    if fixed:
        return None, [f"{path}: can't be searched: {fixed}"]
    if not location or location[0] not in SEARCHABLE_SECTIONS:
        return None, [
            f"{path or TUNE_KEY}: can't be searched; search expressions belong in the model, "
            f"compile and fit sections ({_SAME_EXAMPLES})"
        ]
    kind = node[TUNE_KEY]
    if kind not in KINDS:
        return None, [f"{path}.tune: expected int, float or choice, got {kind!r}"]
    problems = [
        f"{path}.{key}: unknown key in a search expression{did_you_mean(str(key), KEYS[kind])}"
        for key in node
        if key != TUNE_KEY and key not in KEYS[kind]
    ]
    problems += [f"{path}.{key}: missing required key" for key in REQUIRED_KEYS[kind]
                 if key not in node]
    if problems:
        return None, problems
    if kind == "choice":
        return _choice(location, path, node["values"])
    return _range(location, path, kind, node)


def _choice(location, path: str, values: Any) -> tuple[SearchExpression | None, list[str]]:
    if not isinstance(values, list):
        return None, [f"{path}.values: expected a list of values, got {values!r}"]
    if not values:
        return None, [f"{path}.values: must not be empty"]
    if len(values) > MOST_CHOICES:
        return None, [f"{path}.values: {len(values):,} values, more than the {MOST_CHOICES:,} "
                      "a search of tens of trials can try; list fewer, or search a range with "
                      "{tune: int, min: ..., max: ...}"]
    values = [_read_number(value) for value in values]
    # KerasTuner's Choice takes numbers, strings or booleans, all of one type.
    for value in values:
        if isinstance(value, (dict, list)) or value is None:
            return None, [
                f"{path}.values: expected numbers, names or true/false, got {value!r}"
            ]
    types = sorted({_type_word(value) for value in values})
    if len(types) > 1:
        return None, [f"{path}.values: expected values of one type, got {' and '.join(types)}"]
    repeated = sorted(str(value) for value, times in Counter(values).items() if times > 1)
    if repeated:
        return None, [f"{path}.values: {', '.join(repeated)} listed more than once"]
    return SearchExpression(tuple(location), "choice", values=tuple(values)), []


def _range(location, path: str, kind: str, node: dict) -> tuple[SearchExpression | None, list[str]]:
    problems = []
    numbers = {}
    for key in ("min", "max", "step"):
        if key not in node:
            continue
        value = node[key] if kind == "int" else _read_number(node[key])
        wanted = int if kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            word = "an integer" if kind == "int" else "a number"
            problems.append(f"{path}.{key}: expected {word}, got {node[key]!r}")
        else:
            numbers[key] = value if kind == "int" else float(value)
    sampling = node.get("sampling", "linear")
    if sampling not in SAMPLINGS:
        problems.append(f"{path}.sampling: expected 'linear' or 'log', got {sampling!r}")
    if problems:
        return None, problems
    low, high, step = numbers["min"], numbers["max"], numbers.get("step")
    if low > high:
        problems.append(f"{path}: min ({low}) is greater than max ({high})")
    if sampling == "log" and low <= 0:
        problems.append(f"{path}: log sampling needs min > 0, got {low}")
    if step is not None and step <= 0:
        problems.append(f"{path}.step: expected a value > 0, got {step}")
    elif step is not None and sampling == "log" and step <= 1:
        # KerasTuner reads a log step as the factor between neighbouring values.
        problems.append(
            f"{path}.step: with log sampling the step is the factor between values "
            f"(e.g. 2 for 16, 32, 64), so it must be > 1, got {step}"
        )
    elif step is not None and low < high and (low * step if sampling == "log" else low + step) > high:
        # KerasTuner then tries min alone, trial after trial, without a word.
        reach = (f"{low} times {step} is above max ({high})" if sampling == "log"
                 else f"{low} + {step} is above max ({high})")
        problems.append(f"{path}.step: {reach}, so min is the only value searched; give a "
                        "smaller step, or a wider range")
    if problems:
        return None, problems
    expression = SearchExpression(tuple(location), kind, low, high, step, sampling)
    return expression, []


def _read_number(value: Any) -> Any:
    if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
        return float(value)
    return value


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "numbers"
    return "names"


def expression_schema() -> dict[str, Any]:
    """The JSON Schema of a search expression, from the same grammar the parser reads."""
    number = {"type": ["number", "string"]}  # YAML 1.1 reads 1e-4 as a string
    ranges = {
        "type": "object",
        "properties": {TUNE_KEY: {"enum": ["int", "float"]},
                       **{key: number for key in KEYS["int"] if key != "sampling"},
                       "sampling": {"enum": list(SAMPLINGS)}},
        "required": [TUNE_KEY, *REQUIRED_KEYS["int"]],
        "additionalProperties": False,
    }
    choice = {
        "type": "object",
        "properties": {
            TUNE_KEY: {"const": "choice"},
            "values": {"type": "array", "minItems": 1,
                       "items": {"type": ["number", "string", "boolean"]}},
        },
        "required": [TUNE_KEY, *REQUIRED_KEYS["choice"]],
        "additionalProperties": False,
    }
    return {"description": "A value for `dlcourse tune` to search.", "oneOf": [ranges, choice]}
