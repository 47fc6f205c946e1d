"""The JSON Schema of the config format, generated from the section classes, for editors."""

from __future__ import annotations

from typing import Any

from dlcourse.config.search import FIXED_KEYS, expression_schema
from dlcourse.config.sections import Config


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file, search expressions included where tune may search."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dlcourse config"
    # `name` defaults to the file's name at load time, so a file need not set it.
    schema["required"] = [key for key in schema.get("required", []) if key != "name"]
    _allow_search_expressions(schema)
    return schema


def _allow_search_expressions(schema: dict[str, Any]) -> None:
    """Let a search expression stand wherever `dlcourse tune` may search a value.

    Layer arguments accept any value already; the compile and fit values are widened here.
    What the search grammar keeps fixed (FIXED_KEYS) stays so here.
    """
    definitions = schema["$defs"]
    definitions["SearchExpression"] = expression_schema()
    reference = {"$ref": "#/$defs/SearchExpression"}
    for section, prefix in (("CompileConfig", "compile"), ("OptimizerConfig", "compile.optimizer"),
                            ("FitConfig", "fit")):
        properties = _object_schema(definitions[section])["properties"]
        for key, value in properties.items():
            if f"{prefix}.{key}" in FIXED_KEYS:
                continue
            properties[key] = {"anyOf": [value, reference]}


def _object_schema(definition: dict[str, Any]) -> dict[str, Any]:
    """A section's mapping form, also where it may be given by name (`optimizer: sgd`)."""
    if "properties" in definition:
        return definition
    return next(option for option in definition["anyOf"] if "properties" in option)
