"""The config format: YAML read safely, overridden from the command line, validated once.

After `load_config` returns, the rest of dlcourse works with typed, frozen objects and
never re-checks them. Every problem is reported with its path in the file, e.g.
`model.layers[3].LSTM.units: expected an integer, got 'abc'`.

Nothing here imports TensorFlow: Keras's public names are read from its package files.
"""

from __future__ import annotations

import ast
import copy
import difflib
import importlib.util
import re
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dlcourse.errors import ConfigError

# What `--smoke` changes: a tiny subset and one epoch, enough to exercise every code path.
SMOKE_OVERRIDES: dict[str, Any] = {"data.limit": 256, "fit.epochs": 1}

# Layers whose `layer` (and `backward_layer`) argument is itself a layer spec.
WRAPPER_ARGS = ("layer", "backward_layer")


# --------------------------------------------------------------------------- Keras names


@lru_cache(maxsize=None)
def keras_public_names(module: str) -> frozenset[str]:
    """Names exported by `keras.<module>`, read from Keras's generated API file.

    Parsing the file instead of importing keras keeps `validate` free of TensorFlow's
    multi-second import. If the file layout ever changes, fall back to importing.
    """
    spec = importlib.util.find_spec("keras")
    if spec is not None and spec.submodule_search_locations:
        init = Path(next(iter(spec.submodule_search_locations))) / module / "__init__.py"
        try:
            tree = ast.parse(init.read_text())
        except (OSError, SyntaxError):
            tree = None
        if tree is not None:
            names = {
                alias.asname or alias.name
                for node in tree.body
                if isinstance(node, ast.ImportFrom)
                for alias in node.names
            }
            if names:
                return frozenset(names)
    keras_module = importlib.import_module(f"keras.{module}")
    return frozenset(name for name in dir(keras_module) if not name.startswith("_"))


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------- layer arguments


def _integer(value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    if value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"expected {kind}, got {value!r}")
    return value


def _integer_or_tuple(value: Any) -> int | tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("expected an integer or a list of integers, got an empty list")
        return tuple(_integer(item) for item in value)
    return _integer(value)


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number between 0 and 1, got {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"expected a number in [0, 1), got {value!r}")
    return float(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a name such as 'relu', got {value!r}")
    return value


def _padding(value: Any) -> str:
    if value not in ("valid", "same", "causal"):
        raise ValueError(f"expected 'valid', 'same' or 'causal', got {value!r}")
    return value


# The arguments most configs set, checked here so a typo in a value is caught by
# `validate` without importing Keras. Other arguments are passed through and checked by
# Keras itself when the model is built (still reported with their path).
LAYER_ARGUMENT_CHECKS: dict[str, Callable[[Any], Any]] = {
    "units": _integer,
    "filters": _integer,
    "input_dim": _integer,
    "output_dim": _integer,
    "kernel_size": _integer_or_tuple,
    "pool_size": _integer_or_tuple,
    "strides": _integer_or_tuple,
    "rate": _fraction,
    "dropout": _fraction,
    "recurrent_dropout": _fraction,
    "activation": _name,
    "recurrent_activation": _name,
    "return_sequences": _boolean,
    "use_bias": _boolean,
    "mask_zero": _boolean,
    "padding": _padding,
}


def _invalid(kind: str, message: str, **context: Any) -> PydanticCustomError:
    # The message goes through the context so braces in user values are never
    # mistaken for template fields.
    return PydanticCustomError(kind, "{message}", {"message": message, **context})


def _layer_error(subpath: str, message: str) -> PydanticCustomError:
    return _invalid("layer", message, subpath=subpath)


class LayerSpec(BaseModel):
    """One Keras layer: its class name in `keras.layers` and its keyword arguments.

    In YAML a layer is `{LSTM: {units: 32}}`, or just `Flatten` when it takes no
    arguments. Wrappers nest a layer: `{Bidirectional: {layer: {LSTM: {units: 32}}}}`.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    args: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, raw: Any) -> dict[str, Any]:
        if isinstance(raw, LayerSpec):
            return {"name": raw.name, "args": raw.args}
        if isinstance(raw, str):
            raw = {raw: None}
        if not isinstance(raw, dict) or len(raw) != 1:
            raise _layer_error(
                "", f"expected a layer such as {{Dense: {{units: 10}}}}, got {raw!r}"
            )
        ((name, args),) = raw.items()
        layer_names = keras_public_names("layers")
        if not isinstance(name, str) or name not in layer_names:
            suggestion = _suggest(str(name), sorted(layer_names))
            raise _layer_error("", f"unknown Keras layer {name!r}{suggestion}")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise _layer_error(name, f"expected a mapping of keyword arguments, got {args!r}")
        return {"name": name, "args": _checked_arguments(name, args)}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> dict[str, Any]:
        # Describe the YAML form ({LSTM: {units: 32}} or a bare name), not the internal
        # (name, args) pair, so editors can complete layer names.
        names = sorted(name for name in keras_public_names("layers") if name[0].isupper())
        arguments = {
            "type": ["object", "null"],
            "description": "Keyword arguments of the Keras layer.",
        }
        return {
            "description": "A Keras layer: {ClassName: {argument: value}}, or a bare name.",
            "anyOf": [
                {"type": "string", "enum": names},
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "propertyNames": {"enum": names},
                    "additionalProperties": arguments,
                },
            ],
        }

    @model_serializer
    def _to_yaml(self) -> dict[str, Any]:
        return {
            self.name: {
                key: value._to_yaml() if isinstance(value, LayerSpec) else _plain(value)
                for key, value in self.args.items()
            }
        }


def _plain(value: Any) -> Any:
    """Tuples become lists so the resolved config dumps as ordinary YAML."""
    return list(value) if isinstance(value, tuple) else value


def _checked_arguments(layer: str, args: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in args.items():
        if not isinstance(key, str):
            raise _layer_error(layer, f"argument names must be strings, got {key!r}")
        if key in WRAPPER_ARGS:
            try:
                checked[key] = LayerSpec.model_validate(value)
            except ValidationError as error:
                inner = error.errors()[0]
                subpath = _join(f"{layer}.{key}", inner.get("ctx", {}).get("subpath", ""))
                raise _layer_error(subpath, inner["ctx"]["message"]) from None
            continue
        check = LAYER_ARGUMENT_CHECKS.get(key)
        try:
            checked[key] = check(value) if check else value
        except ValueError as error:
            raise _layer_error(f"{layer}.{key}", str(error)) from None
    return checked


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)


# --------------------------------------------------------------------------- sections


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PositiveInt = typing.Annotated[int, Field(gt=0)]
DatasetName = Literal["mnist", "imdb"]
TEXT_DATASETS = ("imdb",)


class DataConfig(Section):
    """Which dataset, how it is preprocessed, and how much of it to use."""

    dataset: DatasetName
    num_words: PositiveInt | None = Field(
        None, description="Keep the most frequent words; rarer ones become the OOV index 2."
    )
    maxlen: PositiveInt | None = Field(
        None, description="Cut or pad every review to this many tokens (pre-padding)."
    )
    limit: PositiveInt | None = Field(
        None, description="Use only the first N examples of each split (for quick runs)."
    )

    @model_validator(mode="after")
    def _text_settings_match_dataset(self) -> DataConfig:
        if self.dataset in TEXT_DATASETS:
            if self.maxlen is None:
                raise _invalid(
                    "text", "maxlen is required for text datasets (reviews differ in length)"
                )
        elif self.num_words is not None or self.maxlen is not None:
            raise _invalid(
                "text", f"num_words and maxlen apply to text datasets only, not {self.dataset}"
            )
        return self


class ModelConfig(Section):
    """The model: an ordered list of Keras layers, stacked in a Sequential model."""

    layers: list[LayerSpec] = Field(min_length=1)


class OptimizerConfig(Section):
    """A Keras optimizer by name, with the arguments the lecture's update rule uses."""

    name: str
    learning_rate: float | None = Field(None, gt=0)
    momentum: float | None = Field(None, ge=0, lt=1)
    weight_decay: float | None = Field(None, ge=0)

    @field_validator("name")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        known = {n.lower() for n in keras_public_names("optimizers") if n[0].isupper()}
        known -= {"optimizer", "lossscaleoptimizer"}
        if name.lower() not in known:
            raise _invalid(
                "optimizer",
                f"unknown optimizer {name!r}; expected one of {', '.join(sorted(known))}",
            )
        return name.lower()

    def keras_arguments(self) -> dict[str, float]:
        """The arguments that were set, for `keras.optimizers.get`."""
        return self.model_dump(exclude={"name"}, exclude_none=True)


class CompileConfig(Section):
    """Arguments of `model.compile`."""

    optimizer: OptimizerConfig
    loss: str
    metrics: list[str] = ["accuracy"]

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer_by_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, loss: str) -> str:
        known = sorted(n for n in keras_public_names("losses") if n[0].islower())
        if loss not in known:
            raise _invalid("loss", f"unknown loss {loss!r}{_suggest(loss, known)}")
        return loss


class FitConfig(Section):
    """Arguments of `model.fit`. Validate on a fraction of the training data or on test."""

    epochs: PositiveInt
    batch_size: PositiveInt = 32
    validation_split: float | None = Field(None, gt=0, lt=1)
    validation: Literal["test"] | None = Field(
        None, description="Validate on the held-out test split instead of a fraction of train."
    )

    @model_validator(mode="after")
    def _one_validation_source(self) -> FitConfig:
        if self.validation_split is not None and self.validation is not None:
            raise _invalid("validation", "set either validation_split or validation, not both")
        return self


class OutputConfig(Section):
    """Where runs are written and what goes in them."""

    dir: str = "runs"
    plots: bool = True
    tensorboard: bool = Field(False, description="Write TensorBoard logs to <run>/tensorboard.")


class ReferenceConfig(Section):
    """A published result this config should reproduce."""

    metric: Literal["best_val_accuracy", "test_accuracy"]
    value: float
    source: str


class DistributionConfig(Section):
    """Data-parallel training with TensorFlow's tf.distribute (see README, "Several devices").

    `fit.batch_size` is the global batch: each step splits it across all replicas.
    """

    strategy: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="none: one device; mirrored: all local devices of this machine; "
        "multi_worker: several processes or machines, the cluster read from TF_CONFIG.",
    )
    logical_cpu_devices: PositiveInt | None = Field(
        None,
        description="Split the CPU into this many devices for the mirrored strategy "
        "(to try or test data parallelism without GPUs).",
    )
    communication: Literal["auto", "ring"] = Field(
        "auto", description="How multi_worker replicas exchange gradients (ring: gRPC rings)."
    )
    timeout_seconds: PositiveInt = Field(
        120,
        description="multi_worker: how long one exchange of gradients or metrics may wait "
        "for a peer before the run stops instead of hanging.",
    )
    startup_timeout_seconds: PositiveInt = Field(
        600,
        description="multi_worker: how long a worker waits for all the others to start "
        "(TensorFlow alone would wait forever).",
    )

    @model_validator(mode="after")
    def _settings_match_strategy(self) -> DistributionConfig:
        if self.logical_cpu_devices is not None and self.strategy != "mirrored":
            raise _invalid(
                "distribution",
                f"logical_cpu_devices applies to strategy mirrored only, not {self.strategy}",
            )
        if self.communication != "auto" and self.strategy != "multi_worker":
            raise _invalid(
                "distribution",
                f"communication applies to strategy multi_worker only, not {self.strategy}",
            )
        return self


class Config(Section):
    """A whole experiment: data, model, compile and fit settings, seed and output."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 42
    deterministic: bool = Field(
        False, description="Use TensorFlow's deterministic ops (slower; bit-identical reruns)."
    )
    data: DataConfig
    model: ModelConfig
    compile: CompileConfig
    fit: FitConfig
    output: OutputConfig = OutputConfig()
    distribution: DistributionConfig = DistributionConfig()
    reference: ReferenceConfig | None = None

    def to_yaml(self) -> str:
        """The resolved config, as a YAML file that `load_config` reads back unchanged."""
        data = self.model_dump(mode="json", exclude_none=True)
        return yaml.safe_dump(data, sort_keys=False)


# --------------------------------------------------------------------------- loading


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config format, generated from the classes above."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dlcourse config"
    # `name` defaults to the file's name at load time, so a file need not set it.
    schema["required"] = [key for key in schema.get("required", []) if key != "name"]
    # The optimizer may also be given by name alone (`optimizer: rmsprop`).
    compile_properties = schema["$defs"]["CompileConfig"]["properties"]
    compile_properties["optimizer"] = {
        "anyOf": [{"type": "string"}, compile_properties["optimizer"]]
    }
    return schema


def load_config(
    path: str | Path,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    smoke: bool = False,
) -> Config:
    """Read, override and validate a config file. Raises ConfigError naming the problem."""
    path = Path(path)
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    if smoke:
        raw = apply_overrides(raw, SMOKE_OVERRIDES, source=path)
    raw = apply_overrides(raw, overrides, source=path)
    return validate(raw, source=path)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping with the safe loader, refusing aliases and python tags."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file.") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a UTF-8 text file ({error.reason}).") from None
    except OSError as error:
        raise ConfigError(f"{path}: can't read the config file ({error.strerror}).") from None
    try:
        _refuse_aliases(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(error)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping with data, model, compile and fit sections, "
            f"got {type(raw).__name__}."
        )
    return raw


def _refuse_aliases(text: str) -> None:
    # An alias repeats a node by reference; nested ones ("billion laughs") expand into
    # gigabytes once anything walks the tree, so configs may not use them at all.
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.YAMLError(
                f"YAML aliases (*{event.anchor}) are not allowed in configs; "
                "write the value out instead"
            )


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def validate(raw: dict[str, Any], source: str | Path = "<config>") -> Config:
    """Validate a parsed config; every problem is reported with its path."""
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(item) for item in error.errors()]
        if len(problems) == 1:
            raise ConfigError(f"{source}: {problems[0]}") from None
        listed = "\n".join(f"  {problem}" for problem in problems)
        raise ConfigError(f"{source}: {len(problems)} problems:\n{listed}") from None


def format_path(location: Sequence[str | int]) -> str:
    """('model', 'layers', 3, 'units') -> 'model.layers[3].units'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}


def _describe(error: dict[str, Any]) -> str:
    location = list(error["loc"])
    kind = error["type"]
    given = error.get("input")
    context = error.get("ctx", {})
    if kind == "layer":
        location.append(context["subpath"])
        message = context["message"]
    elif kind == "extra_forbidden":
        message = f"unknown key{_suggest(str(location[-1]), _known_keys(location[:-1]))}"
    elif kind == "missing":
        message = "missing required key"
    elif kind == "literal_error":
        message = f"expected one of {context['expected']}, got {given!r}"
    elif kind.split("_")[0] in _TYPE_WORDS and kind.endswith(("_type", "_parsing")):
        message = f"expected {_TYPE_WORDS[kind.split('_')[0]]}, got {given!r}"
    elif kind == "model_attributes_type":
        message = f"expected a mapping, got {given!r}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
                 "less_than_equal": "<="}[kind]
        limit = next(iter(context.values()))
        message = f"expected a value {bound} {limit}, got {given!r}"
    elif kind == "too_short":
        message = "must not be empty"
    elif kind == "string_pattern_mismatch":
        message = f"expected letters, digits, '_', '-' or '.', got {given!r}"
    else:
        message = error["msg"]
    path = format_path([part for part in location if part != ""])
    return f"{path}: {message}" if path else message


def _known_keys(location: Sequence[str | int]) -> list[str]:
    section = _section_at(location)
    return list(section.model_fields) if section else []


def _section_at(location: Sequence[str | int]) -> type[BaseModel] | None:
    section: type[BaseModel] | None = Config
    for part in location:
        if section is None or not isinstance(part, str) or part not in section.model_fields:
            return None
        section = _section_class(section.model_fields[part].annotation)
    return section


def _section_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            if isinstance(option, type) and issubclass(option, Section):
                return option
    return None


# --------------------------------------------------------------------------- overrides

_INDEXED = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>\d+)\])?$")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """['fit.epochs=1'] -> {'fit.epochs': 1}; values are parsed as YAML scalars."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set fit.epochs=1")
        try:
            parsed[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {_one_line(error)}")
    return parsed


def apply_overrides(
    raw: dict[str, Any],
    overrides: Sequence[str] | Mapping[str, Any],
    source: str | Path = "<config>",
) -> dict[str, Any]:
    """Return a copy of `raw` with each dotted key set; keys must exist in the schema."""
    if not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    result = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        _set_path(result, dotted, value, source)
    return result


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
                suggestion = _suggest(key, list(section.model_fields))
                raise ConfigError(
                    f"--set {dotted}: the key '{where}' does not exist in the config "
                    f"schema{suggestion}."
                )
            field_section = _section_class(section.model_fields[key].annotation)
        else:
            field_section = None
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {source} has no mapping at '{where}'.")
        if index is None:
            if last:
                node[key] = value
                return
            if node.get(key) is None:
                node[key] = {}
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
        section = None  # below a list entry: a layer, whose arguments Keras checks
        if isinstance(node, dict) and len(node) == 1 and position + 1 < len(parts):
            layer_name = parts[position + 1]
            if layer_name not in node:
                raise ConfigError(
                    f"--set {dotted}: {where} is a {next(iter(node))} layer, not {layer_name}."
                )
