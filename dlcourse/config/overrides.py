"""`--set key=value`: strict overrides of a parsed config, checked against the schema.

A key that isn't in the schema is an error naming it, as in TF Model Garden's
params_dict: `--set fit.epoch=1` fails with "the key 'fit.epoch' does not exist".
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import BaseModel

from dlcourse.config.problems import did_you_mean
from dlcourse.config.safe_yaml import dump, parse_value
from dlcourse.config.sections import Config, OptimizerConfig, section_class
from dlcourse.errors import ConfigError

# An index may count from the end, as Python's does: layers[-1] is the output layer.
_INDEXED = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>-?\d+)\])?$")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """['fit.epochs=1'] -> {'fit.epochs': 1}; values are parsed as YAML."""
    if isinstance(items, (str, bytes)):  # one text was read a character at a time
        raise ConfigError(f"overrides {items!r}: expected a mapping such as "
                          "{'fit.epochs': 1}, or a list of KEY=VALUE texts.")
    parsed: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"--set {item!r}: expected a KEY=VALUE text.")
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set fit.epochs=1")
        parsed[key.strip()] = parse_value(value, f"--set {key.strip()}")
    return parsed


def override_texts(overrides: Sequence[str] | Mapping[str, Any]) -> list[str]:
    """Overrides as `KEY=VALUE` texts, whether given as --set items or as a mapping."""
    if not isinstance(overrides, Mapping):
        parse_overrides(overrides)  # refuse malformed items here, with the usual message
        # One text a key, as typed, the last given (which is what applies), where the key
        # was first given: `--set fit.epochs=3 --set fit.epochs=5` recorded both.
        texts: dict[str, str] = {}
        for text in overrides:
            texts[text.partition("=")[0].strip()] = text
        return list(texts.values())
    return [f"{key}={_flow(plain_data(value, _named(key, overrides)))}"
            for key, value in overrides.items()]


def attributions(overrides: Sequence[str] | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Each override's key with the override as the user gave it, for a problem it made:
    `--set fit.epochs=0`, or `overrides['fit.epochs'] = 0` from Python."""
    if not isinstance(overrides, Mapping):
        return [(text.partition("=")[0].strip(), f"--set {text}")
                for text in override_texts(overrides)]
    # The texts a run records, said as Python wrote them: overrides['fit.epochs'] = 0.
    return [(key, f"{_named(key, overrides)} = {value}")
            for key, _, value in (text.partition("=") for text in override_texts(overrides))]


def _named(dotted: Any, overrides: Sequence[str] | Mapping[str, Any]) -> str:
    """An override as the user gave it: `--set fit.epochs` on the command line, or
    `overrides['fit.epochs']` from Python, where there is no --set to speak of."""
    return f"overrides[{dotted!r}]" if isinstance(overrides, Mapping) else f"--set {dotted}"


def _flow(value: Any) -> str:
    return dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def apply_overrides(
    raw: dict[str, Any],
    overrides: Sequence[str] | Mapping[str, Any],
    source: str | Path = "<config>",
) -> dict[str, Any]:
    """Return a copy of `raw` with each dotted key set; keys must exist in the schema."""
    given = overrides
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    result = plain_data(raw, told_of=f"{source}: ")
    for dotted, value in overrides.items():
        if not isinstance(dotted, str):
            raise ConfigError(f"{_named(dotted, given)}: a key is a dotted text such as "
                              "'fit.epochs'.")
        named = _named(dotted, given)
        _set_path(result, dotted, plain_data(value, named, told_of=f"{source}: "), source,
                  named)
    return result


def plain_data(value: Any, where: str = "", told_of: str = "") -> Any:
    """`value` as YAML would give it, copied (the caller's stays untouched): dicts, lists
    (from tuples too), strings, numbers, booleans and None, NumPy's numbers as Python's.
    Anything else, or a dict or list holding itself, is refused naming `where`: it was a
    TypeError, a RecursionError or a YAML RepresenterError from deep inside. `told_of`
    starts the message: the config dict's name."""
    def copied(item: Any, at: str, holding: frozenset[int]) -> Any:
        if isinstance(item, (Mapping, list, tuple)):
            if id(item) in holding:
                raise ConfigError(f"{told_of}{at or 'the config'} is a dict or list that it is "
                                  "already inside of (a loop); a config is a tree of values, as "
                                  "YAML gives it.")
            holding = holding | {id(item)}
            if isinstance(item, Mapping):
                return {key: copied(inner, f"{at}.{key}" if at else str(key), holding)
                        for key, inner in item.items()}
            return [copied(inner, f"{at}[{index}]", holding) for index, inner in enumerate(item)]
        item = _python(item)
        # As the plain type: a str Enum or an int subclass is no value YAML can write.
        for plain in (bool, str, int, float):
            if isinstance(item, plain):
                return plain(item) if plain is not str else "" + item
        if item is None:
            return None
        # YAML reads an unquoted 2020-01-01 as a date, which no config key takes.
        quote = ""
        if isinstance(item, datetime.date):  # the shell takes one pair of quotes, YAML the other
            quote = (f" Quote it as YAML text: --set \"{at.removeprefix('--set ')}='{item}'\"."
                     if at.startswith("--set ") else f" Quote it ('{item}') to keep it text.")
        raise ConfigError(f"{told_of}{at} is of type {type(item).__name__}; a config holds strings, "
                          "numbers, booleans, None, lists and dicts, as YAML does." + quote)

    return copied(value, where, frozenset())


def _python(value: Any) -> Any:
    """A NumPy number (a notebook's np.arange, say) as the Python one it stands for: the
    sections are strict and take Python's. Without importing NumPy."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return value.item()
    return value


def _set_path(raw: dict[str, Any], dotted: str, value: Any, source: str | Path,
              named: str) -> None:
    """Set `dotted` to `value`; `named` is the override as the user gave it, for errors."""
    parts = dotted.split(".")
    node: Any = raw
    section: type[BaseModel] | None = Config
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        match = _INDEXED.match(part)
        if not match:
            raise ConfigError(f"{named}: '{part}' is not a key")
        key, index = match["key"], match["index"]
        where = ".".join(parts[: position + 1])
        if section is not None:
            if key not in section.model_fields:
                suggestion = did_you_mean(key, list(section.model_fields))
                raise ConfigError(
                    f"{named}: the key '{where}' does not exist in the config "
                    f"schema{suggestion}."
                )
            field_section = section_class(section.model_fields[key].annotation)
        else:
            field_section = None
        if isinstance(node, list) and key.isdigit():
            above = ".".join(parts[:position])
            written = ".".join([f"{above}[{key}]", *parts[position + 1:]])
            raise ConfigError(f"{named}: '{above}' is a list, indexed in brackets: "
                              f"{named.replace(dotted, written)}{'=...' if named.startswith('--set') else ''}")
        if not isinstance(node, dict):
            raise ConfigError(f"{named}: {source} has no mapping at '{where}'.")
        if index is None:
            if last:
                node[key] = value
                return
            if node.get(key) is None:
                node[key] = {}
            if field_section is OptimizerConfig and isinstance(node[key], str):
                node[key] = OptimizerConfig.from_name(node[key])
            node = node[key]
            section = field_section
            continue
        items = node.get(key)
        count = len(items) if isinstance(items, list) else 0
        number = int(index) + count if int(index) < 0 else int(index)
        if not 0 <= number < count:
            raise ConfigError(
                f"{named}: '{key}' has {count} entries in {source}; "
                f"index {index} is out of range."
            )
        if last:
            items[number] = value
            return
        node = items[number]
        if parts[:position] == ["model"] and key == "layers" and isinstance(node, str):
            node = items[number] = {node: {}}  # `- Flatten` takes arguments too
        section = None  # below a list entry: a layer, whose arguments the layer spec checks
        if isinstance(node, dict) and len(node) == 1 and position + 1 < len(parts):
            layer_name = parts[position + 1]
            if layer_name not in node:
                raise ConfigError(
                    f"{named}: {where} is a {next(iter(node))} layer, not {layer_name}."
                )
