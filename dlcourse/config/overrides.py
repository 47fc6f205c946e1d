"""`--set key=value`: strict overrides of a parsed config, checked against the schema.

A key that isn't in the schema is an error naming it, as in TF Model Garden's
params_dict: `--set fit.epoch=1` fails with "the key 'fit.epoch' does not exist".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import BaseModel

from dlcourse.config.problems import did_you_mean
from dlcourse.config.safe_yaml import dump, parse_value
from dlcourse.config.sections import Config, OptimizerConfig, section_class
from dlcourse.errors import ConfigError

_INDEXED = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>\d+)\])?$")


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
        return list(overrides)
    return [f"{key}={_flow(_python(value))}" for key, value in overrides.items()]


def _flow(value: Any) -> str:
    return dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def apply_overrides(
    raw: dict[str, Any],
    overrides: Sequence[str] | Mapping[str, Any],
    source: str | Path = "<config>",
) -> dict[str, Any]:
    """Return a copy of `raw` with each dotted key set; keys must exist in the schema."""
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    result = plain_copy(raw)
    for dotted, value in overrides.items():
        _set_path(result, str(dotted), _python(value), source)
    return result


def plain_copy(value: Any) -> Any:
    """`value` with fresh dicts and lists (the caller's stay untouched) and NumPy's numbers
    as Python's, as YAML would give it. Anything else is shared, for validation to name:
    a deep copy of a dict config holding, say, a module raised a TypeError."""
    if isinstance(value, Mapping):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_copy(item) for item in value]
    return _python(value)


def _python(value: Any) -> Any:
    """A NumPy number (a notebook's np.arange, say) as the Python one it stands for: the
    sections are strict and take Python's. Without importing NumPy."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return value.item()
    return value


def _set_path(raw: dict[str, Any], dotted: str, value: Any, source: str | Path) -> None:
    parts = dotted.split(".")
    node: Any = raw
    section: type[BaseModel] | None = Config
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        match = _INDEXED.match(part)
        if not match:
            raise ConfigError(f"--set {dotted}: '{part}' is not a key")
        key, index = match["key"], match["index"]
        where = ".".join(parts[: position + 1])
        if section is not None:
            if key not in section.model_fields:
                suggestion = did_you_mean(key, list(section.model_fields))
                raise ConfigError(
                    f"--set {dotted}: the key '{where}' does not exist in the config "
                    f"schema{suggestion}."
                )
            field_section = section_class(section.model_fields[key].annotation)
        else:
            field_section = None
        if isinstance(node, list) and key.isdigit():
            above = ".".join(parts[:position])
            written = ".".join([f"{above}[{key}]", *parts[position + 1:]])
            raise ConfigError(f"--set {dotted}: '{above}' is a list, indexed in brackets: "
                              f"--set {written}=...")
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {source} has no mapping at '{where}'.")
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
        if not isinstance(items, list) or int(index) >= len(items):
            count = len(items) if isinstance(items, list) else 0
            raise ConfigError(
                f"--set {dotted}: '{key}' has {count} entries in {source}; "
                f"index {index} is out of range."
            )
        if last:
            items[int(index)] = value
            return
        node = items[int(index)]
        section = None  # below a list entry: a layer, whose arguments the layer spec checks
        if isinstance(node, dict) and len(node) == 1 and position + 1 < len(parts):
            layer_name = parts[position + 1]
            if layer_name not in node:
                raise ConfigError(
                    f"--set {dotted}: {where} is a {next(iter(node))} layer, not {layer_name}."
                )
