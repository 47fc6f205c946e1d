"""How config problems are worded: paths in the file, suggestions, one message for all.

Every problem names where it is (`model.layers[3].LSTM.units`) and what was wrong with
the value, and all problems of a file are reported at once.
"""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any, Sequence

from pydantic_core import PydanticCustomError

from dlcourse.errors import ConfigError


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """' (did you mean 'units'?)' for the closest choice, or '' when none is close. Case
    counts least: 'Relu' was offered 'elu', and 'DENSE' nothing."""
    name, choices = str(name), [str(choice) for choice in choices]
    close = difflib.get_close_matches(name.lower(), {choice.lower() for choice in choices}, n=1)
    if not close:
        return ""
    # Of 'accuracy' and 'Accuracy', the one written as the name was.
    best = max((choice for choice in choices if choice.lower() == close[0]),
               key=lambda choice: difflib.SequenceMatcher(None, name, choice).ratio())
    return f" (did you mean '{best}'?)"


def format_path(location: Sequence[str | int]) -> str:
    """('model', 'layers', 3, 'units') -> 'model.layers[3].units'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def join(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def invalid(kind: str, message: str, **context: Any) -> PydanticCustomError:
    """A validation error whose message is used as it is.

    The message goes through the context so braces in user values are never mistaken
    for template fields. `subpath` (in the context) extends the error's location below
    the field that raised it, for layer arguments.
    """
    return PydanticCustomError(kind, "{message}", {"message": message, **context})


def raise_problems(
    source: str | Path, problems: Sequence[str], overrides: Sequence[tuple[str, str]] = ()
) -> typing.NoReturn:
    """One ConfigError listing every problem, each with its path in the file. A problem at
    a key that one of `overrides` ((key, as the user gave it) pairs) set is told as that
    override's: the file is not at fault, and the user looking there would find nothing
    wrong."""
    problems = [_attributed(problem, overrides) for problem in problems]
    if len(problems) == 1:
        raise ConfigError(f"{source}: {problems[0]}") from None
    listed = "\n".join(f"  {problem}" for problem in problems)
    raise ConfigError(f"{source}: {len(problems)} problems:\n{listed}") from None


def is_at(problem: str, path: str) -> bool:
    """Whether `problem` ("model.layers[1].LSTM.units: ...") is at `path` or below it."""
    return problem.startswith(path) and problem[len(path):len(path) + 1] in (":", ".", "[")


def _attributed(problem: str, overrides: Sequence[tuple[str, str]]) -> str:
    for key, given in overrides:
        if is_at(problem, key):
            return f"{problem} (from {_cut(given)})"
    return problem


# How much of a value or an override a problem repeats: a --set of 5,000 characters was
# echoed whole, twice.
LONGEST_SHOWN = 120


def _cut(text: str) -> str:
    return text if len(text) <= LONGEST_SHOWN else f"{text[:LONGEST_SHOWN - 3]}..."


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}


def _as_yaml(value: Any) -> str:
    """A value as the config would write it: `true` and `null`, not Python's True and None."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return _cut(repr(value))


def boolean_hint(given: Any) -> str:
    """Why a string written `no` arrived as false: `name: no` read as a mistake of type."""
    if not isinstance(given, bool):
        return ""
    return (" (YAML reads an unquoted yes, no, on, off, true or false as true or false; "
            "quote it to keep it text)")


def describe(error: dict[str, Any], known_keys: typing.Callable[[list], list[str]]) -> str:
    """One of pydantic's errors as `path: what was wrong`.

    `known_keys(location)` lists the keys a mapping at `location` may hold, for the
    suggestion after an unknown key.
    """
    location = list(error["loc"])
    kind = error["type"]
    given = error.get("input")
    context = error.get("ctx", {})
    if "subpath" in context:
        location.append(context["subpath"])
        message = context["message"]
    elif kind == "extra_forbidden":
        message = f"unknown key{did_you_mean(str(location[-1]), known_keys(location[:-1]))}"
    elif kind == "missing":
        message = "missing required key"
    elif kind == "literal_error":
        message = f"expected one of {context['expected']}, got {_as_yaml(given)}"
    elif kind.split("_")[0] in _TYPE_WORDS and kind.endswith(("_type", "_parsing")):
        message = f"expected {_TYPE_WORDS[kind.split('_')[0]]}, got {_as_yaml(given)}"
        if kind == "string_type":
            message += boolean_hint(given)
    elif kind == "model_attributes_type":
        message = f"expected a mapping, got {_as_yaml(given)}"
    elif kind in _BOUNDS:
        limit = next(iter(context.values()))
        message = f"expected a value {_BOUNDS[kind]} {limit}, got {_as_yaml(given)}"
    elif kind == "finite_number":
        message = f"expected a finite number, got {_as_yaml(given)}"
    elif kind == "too_short":
        message = "must not be empty"
    elif kind == "string_pattern_mismatch":
        message = (f"expected letters, digits, '_', '-' or '.' (ASCII), starting with a letter "
                   f"or digit, got {_as_yaml(given)}")
    elif kind == "string_too_long":
        message = f"expected at most {context['max_length']} characters, got {len(given)}"
    elif "message" in context:
        message = context["message"]
    else:
        message = error["msg"]
    path = format_path([part for part in location if str(part).strip() != ""])
    return f"{path}: {message}" if path else message
