"""Layer specs: a Keras layer by its class name, with its arguments checked as Keras takes them.

`{LSTM: {units: 32}}` names `keras.layers.LSTM`. Each argument is checked against that
layer's own signature and docstring, read from Keras (dlcourse.config.keras_catalog):
a misspelt argument or activation is caught by `validate` with a suggestion, a required
one that is missing is named, and every form Keras documents (`padding: 1` for
ZeroPadding2D, `strides: null` for MaxPooling2D) is accepted.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_serializer, model_validator

from dlcourse.config.keras_catalog import catalog
from dlcourse.config.problems import boolean_hint, did_you_mean, invalid, join
from dlcourse.config.vocabulary import REFUSED_LAYERS, SUPPORTED_LAYERS

# TensorFlow counts sizes, epochs and batches in 32-bit integers; larger values would
# overflow in the middle of a run instead of being refused here.
LARGEST_INT = 2**31 - 1
# The largest size (units, filters, embedding width, kernel) a layer may have: one such
# Dense layer on a modest input is gigabytes, and a larger one only exhausts memory.
LARGEST_SIZE = 2**20


class ArgumentError(ValueError):
    """A layer argument's value that Keras wouldn't take; the message says what it expected."""


class KerasSpec(BaseModel):
    """A Keras class by name with its keyword arguments, as a config writes it:
    `{Name: {argument: value}}`, or a bare `Name` when it takes none. Subclasses say which
    catalog entry and module the names come from, and how a name is checked."""

    model_config = ConfigDict(frozen=True)

    name: str
    args: dict[str, Any]

    kind: ClassVar[str]  # the word errors use: "layer", "callback"
    catalog_key: ClassVar[str]  # where the catalog holds each class's arguments
    module: ClassVar[str]  # for the schema's descriptions: keras.layers
    example: ClassVar[str]

    @classmethod
    def error(cls, subpath: str, message: str):
        return invalid(cls.kind, message, subpath=subpath)

    @classmethod
    def check_name(cls, name: Any) -> None:
        raise NotImplementedError

    @classmethod
    def checked(cls, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return check_arguments(name, args, catalog()[cls.catalog_key][name], cls.error)

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, raw: Any) -> dict[str, Any]:
        if isinstance(raw, cls):
            return {"name": raw.name, "args": raw.args}
        if isinstance(raw, str):
            raw = {raw: None}
        if not isinstance(raw, dict) or len(raw) != 1:
            raise cls.error("", f"expected a {cls.kind} such as {cls.example}, got {raw!r}")
        ((name, args),) = raw.items()
        cls.check_name(name)
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise cls.error(name, f"expected a mapping of keyword arguments, got {args!r}")
        return {"name": name, "args": cls.checked(name, args)}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> dict[str, Any]:
        # Describe the YAML form ({LSTM: {units: 32}} or a bare name), with each class's
        # own argument names, so editors can complete both.
        known = catalog()[cls.catalog_key]
        names = sorted(known)
        return {
            "description": f"A Keras {cls.kind}: {{ClassName: {{argument: value}}}}, or a bare name.",
            "anyOf": [
                {"type": "string", "enum": names},
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "propertyNames": {"enum": names},
                    "properties": {
                        name: {
                            "type": ["object", "null"],
                            "propertyNames": {"enum": sorted(known[name])},
                            "description": f"Keyword arguments of {cls.module}.{name}.",
                        }
                        for name in names
                    },
                },
            ],
        }

    @model_serializer
    def _to_yaml(self) -> dict[str, Any]:
        return {
            self.name: {
                key: value._to_yaml() if isinstance(value, KerasSpec) else _plain(value)
                for key, value in self.args.items()
            }
        }


class LayerSpec(KerasSpec):
    """One Keras layer: its class name in `keras.layers` and its keyword arguments.

    In YAML a layer is `{LSTM: {units: 32}}`, or just `Flatten` when it takes no
    arguments. Wrappers nest a layer: `{Bidirectional: {layer: {LSTM: {units: 32}}}}`.
    """

    kind: ClassVar[str] = "layer"
    catalog_key: ClassVar[str] = "layers"
    module: ClassVar[str] = "keras.layers"
    example: ClassVar[str] = "{Dense: {units: 10}}"

    @classmethod
    def check_name(cls, name: Any) -> None:
        check_layer_name(name)


def _plain(value: Any) -> Any:
    """Tuples become lists so the resolved config dumps as ordinary YAML."""
    return [_plain(item) for item in value] if isinstance(value, (tuple, list)) else value


def check_layer_name(name: Any) -> None:
    """Refuse a name that isn't a supported Keras layer, saying why."""
    if isinstance(name, str) and name in SUPPORTED_LAYERS and name in catalog()["layers"]:
        return
    if isinstance(name, str) and name in REFUSED_LAYERS:
        raise LayerSpec.error("", f"{name} can't be used in a config: it {REFUSED_LAYERS[name]}.")
    if isinstance(name, str) and name in catalog()["layer_names"]:
        raise LayerSpec.error(
            "", f"{name} is not among the Keras layers dlcourse supports in a config "
            "(the list is in docs/config.md)"
        )
    # A refused layer in another case ("textvectorization") is named with why it is
    # refused: a supported layer of another sound was suggested instead.
    refused = [layer for layer in REFUSED_LAYERS if layer.lower() == str(name).lower()]
    if refused:
        raise LayerSpec.error("", f"unknown Keras layer {name!r}; {refused[0]} (its spelling) "
                                  f"can't be used in a config: it {REFUSED_LAYERS[refused[0]]}.")
    suggestion = did_you_mean(str(name), sorted(catalog()["layers"]))
    raise LayerSpec.error("", f"unknown Keras layer {name!r}{suggestion}")


def check_arguments(owner: str, args: dict[str, Any], signature: dict[str, Any],
                    error: Callable[[str, str], Exception]) -> dict[str, Any]:
    """`args` of the Keras class `owner` (a layer, a callback), checked against its
    `signature` from the catalog; `error(subpath, message)` makes the problem to raise."""
    checked: dict[str, Any] = {}
    for key, value in args.items():
        if not isinstance(key, str):
            raise error(owner, f"argument names must be strings, got {key!r}")
        if key in _KERAS_2_ARGUMENTS and key not in signature:
            raise error(f"{owner}.{key}", _KERAS_2_ARGUMENTS[key])
        if key not in signature:
            raise error(
                f"{owner}.{key}",
                f"unknown argument of {owner}{did_you_mean(key, sorted(signature))}",
            )
        described = signature[key]
        if described["kind"] == "layer":
            checked[key] = None if value is None else _nested_layer(f"{owner}.{key}", value)
            if owner.rsplit(".", 1)[-1] == "Bidirectional" and checked[key] is not None \
                    and checked[key].name not in BOTH_WAYS_LAYERS:
                # Keras's refusal, at build, was that Dense "could not be deserialized".
                raise error(f"{owner}.{key}", f"Bidirectional runs a recurrent layer both ways "
                            f"({', '.join(sorted(BOTH_WAYS_LAYERS))}), not {checked[key].name}")
            continue
        if key in _any_case_arguments(owner.rsplit(".", 1)[-1]):
            described = {**described, "any_case": True}
        try:
            checked[key] = check_value(described, value)
            if key == "name" and value is not None:
                check_name(value)
        except ArgumentError as problem:
            raise error(f"{owner}.{key}", str(problem)) from None
    missing = [key for key, described in signature.items()
               if described.get("required") and key not in checked]
    if missing:
        raise error(owner, f"missing required argument {missing[0]!r}")
    dtype = checked.get("dtype")
    if isinstance(dtype, str) and dtype.lower().startswith("int") and any(
            key.endswith("_initializer") for key in signature):
        # Weights of integers: their random start was TensorFlow's traceback ("Need
        # minval < maxval"), and no gradient could change them.
        raise error(f"{owner}.dtype", f"{dtype}, but {owner} has weights, which learn only as "
                    "floats: use float32 (or leave dtype out)")
    return checked


# Keras 2's arguments that the lecture's code still shows, and what Keras 3 does instead:
# `input_length` was "did you mean 'input_shape'?", which means something else.
_KERAS_2_ARGUMENTS = {
    "input_length": "Keras 2's argument; Keras 3 takes the sequences' length from the data: "
                    "leave it out",
}


# The layers Bidirectional can run both ways: Keras's recurrent ones.
BOTH_WAYS_LAYERS = frozenset({"SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"})


def _nested_layer(path: str, value: Any) -> LayerSpec:
    try:
        return LayerSpec.model_validate(value)
    except ValidationError as error:
        inner = error.errors()[0]
        context = inner.get("ctx", {})
        raise LayerSpec.error(join(path, context.get("subpath", "")),
                           context.get("message", inner["msg"])) from None


# What TensorFlow takes in a scope's name ('/' separates scopes): 'a b' and 'résumé' were
# a traceback in the first step of fit.
_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9_.\\>-]*")


def check_name(value: Any) -> None:
    """A `name` argument Keras takes: a string without '/' (its scopes' separator), refused
    with a traceback as the model or its optimizer is built, and of the characters
    TensorFlow's scopes take; a list was a traceback in validate itself."""
    if not isinstance(value, str):
        raise ArgumentError(f"expected a string, got {value!r}")
    if "/" in value:
        raise ArgumentError(f"{value!r} holds '/', which Keras refuses in a name")
    if not _NAME_CHARACTERS.fullmatch(value):
        wrong = next(char for char in value if not _NAME_CHARACTERS.fullmatch(char))
        raise ArgumentError(f"{value!r} holds {wrong!r}; TensorFlow takes names of letters, "
                            "digits and _ . - > alone")


def check_value(described: dict[str, Any], value: Any) -> Any:
    """`value` if it is of the kind `described` (from the catalog) accepts; else ArgumentError."""
    if value is None:
        if described.get("nullable") or described["kind"] in _NULL_MEANS_NONE:
            return None
        raise ArgumentError(f"expected {_KIND_WORDS[described['kind']]}, got null")
    return _CHECKS[described["kind"]](value, described)


def _integer(value: Any, described: dict[str, Any]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"expected an integer, got {value!r}")
    positive = described.get("positive")
    if positive and value < 1:
        raise ArgumentError(f"expected a positive integer, got {value!r}")
    if value < 0 and not described.get("signed"):  # lora_rank: -1 failed at build
        raise ArgumentError(f"expected an integer >= 0, got {value!r}")
    if abs(value) > LARGEST_INT:
        raise ArgumentError(f"expected an integer <= {LARGEST_INT}, got {value!r}")
    if positive and value > LARGEST_SIZE:
        raise ArgumentError(
            f"expected at most {LARGEST_SIZE:,} (a larger layer doesn't fit in memory), "
            f"got {value:,}"
        )
    return value


def _integers(value: Any, described: dict[str, Any]) -> int | list:
    if isinstance(value, (list, tuple)):
        if not value:
            raise ArgumentError("expected an integer or a list of integers, got an empty list")
        return [_integers(item, described) for item in value]
    return _integer(value, described)


def _number(value: Any, described: dict[str, Any]) -> float | int:
    fraction = described.get("fraction")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        word = "a number between 0 and 1" if fraction else "a number"
        raise ArgumentError(f"expected {word}, got {value!r}")
    if not math.isfinite(value):
        raise ArgumentError(f"expected a finite number, got {value!r}")
    if fraction and not 0 <= value < 1:
        raise ArgumentError(f"expected a number in [0, 1), got {value!r}")
    if described.get("non_negative") and value < 0:
        raise ArgumentError(f"expected a number >= 0, got {value!r}")
    return float(value) if fraction else value


def _numbers(value: Any, described: dict[str, Any]) -> Any:
    if isinstance(value, (list, tuple)):
        return [_number(item, described) for item in value]
    return _number(value, described)


def _number_map(value: Any, described: dict[str, Any]) -> dict[str, Any]:
    keys = described["keys"]
    if not isinstance(value, dict):
        raise ArgumentError(f"expected a mapping of {', '.join(keys)} to numbers, got {value!r}")
    for key, number in value.items():
        if key not in keys:
            raise ArgumentError(f"{key!r} is not one of its keys, {', '.join(keys)}"
                                f"{did_you_mean(str(key), keys)}")
        try:
            _number(number, {})
        except ArgumentError as problem:
            raise ArgumentError(f"{key}: {problem}") from None
    return dict(value)


def _boolean(value: Any, described: dict[str, Any]) -> bool:
    if not isinstance(value, bool):
        raise ArgumentError(f"expected true or false, got {value!r}")
    return value


# Keras lowers the case of these (every data_format, the padding of every convolution,
# Convolution2D and ConvLSTM2D included, UpSampling2D's interpolation); of other choices it
# takes only its own spelling: fill_mode REFLECT passed validate and was a traceback.
_ANY_CASE = frozenset({"data_format"})


def _any_case_arguments(layer: str) -> frozenset[str]:
    if "Conv" in layer:
        return _ANY_CASE | {"padding"}
    if layer == "UpSampling2D":
        return _ANY_CASE | {"interpolation"}
    return _ANY_CASE


def _string(value: Any, described: dict[str, Any]) -> str:
    if not isinstance(value, str):
        raise ArgumentError(f"expected a string, got {value!r}{boolean_hint(value)}")
    choices = described.get("choices")
    if not choices or value in choices or described.get("any_case") and value.lower() in [
            choice.lower() for choice in choices]:
        return value
    listed = ", ".join(repr(choice) for choice in choices)
    same = [choice for choice in choices if choice.lower() == value.lower()]
    hint = f" (did you mean {same[0]!r}?)" if same else did_you_mean(value, choices)
    raise ArgumentError(f"expected one of {listed}, got {value!r}{hint}")


def _activation(value: Any, described: dict[str, Any]) -> str:
    if not isinstance(value, str) or not value:
        raise ArgumentError(f"expected a name such as 'relu', got {value!r}")
    names = catalog()["activations"]
    if value not in names:
        raise ArgumentError(f"unknown activation {value!r}{did_you_mean(value, names)}"
                            f"{_activation_layer(value)}")
    return value


def _activation_layer(value: str) -> str:
    """PReLU and LeakyReLU are layers (PReLU learns its slope), not activation names."""
    layer = next((name for name in catalog()["layers"]
                  if name.lower() == value.lower() and name.lower() not in catalog()["activations"]),
                 None)
    return f"; or {layer}, a layer: add `- {layer}: {{}}` after this one" if layer else ""


def _registry(kind: str) -> Callable[[Any, dict[str, Any]], Any]:
    """Initializers, regularizers and constraints: a registered name such as 'he_normal',
    or `{ClassName: {argument: value}}` such as `{L2: {l2: 0.0001}}`."""

    def check(value: Any, described: dict[str, Any]) -> Any:
        names, classes = catalog()[kind]["names"], catalog()[kind]["classes"]
        if isinstance(value, dict) and "class_name" in value:
            value = _from_keras_config(value, kind)
        if isinstance(value, str):
            if value not in names:
                raise ArgumentError(f"unknown {kind[:-1]} {value!r}{did_you_mean(value, names)}")
            return value
        if not (isinstance(value, dict) and len(value) == 1):
            raise ArgumentError(
                f"expected a name such as {names[0]!r}, or {{ClassName: "
                f"{{argument: value}}}}, got {value!r}"
            )
        ((name, arguments),) = value.items()
        if name not in classes:
            raise ArgumentError(f"unknown {kind[:-1]} class {name!r}"
                                f"{did_you_mean(str(name), sorted(classes))}")
        arguments = arguments or {}
        if not isinstance(arguments, dict):
            raise ArgumentError(f"expected a mapping of {name}'s arguments, got {arguments!r}")
        # Each argument as Keras describes it: {RandomNormal: {stddev: high}} was a
        # TypeError when the model was built.
        return {name: check_arguments(name, arguments, classes[name], _argument_error)}

    return check


# What Keras writes for such an object in a layer's get_config() (Keras 2 wrote the first
# two): {module: keras.initializers, class_name: GlorotUniform, config: {seed: null},
# registered_name: null}. Copied from a model's config, it was refused.
_KERAS_CONFIG_KEYS = ("module", "class_name", "config", "registered_name")


def _from_keras_config(value: dict, kind: str) -> dict[str, Any]:
    """{ClassName: {argument: value}} from the form Keras itself serializes."""
    unknown = [key for key in value if key not in _KERAS_CONFIG_KEYS]
    if unknown:
        raise ArgumentError(f"{unknown[0]!r} is not a key of Keras's "
                            f"{{class_name: ..., config: ...}} form; it takes "
                            f"{', '.join(_KERAS_CONFIG_KEYS)}")
    name = value["class_name"]
    if not isinstance(name, str):
        raise ArgumentError(f"class_name: expected a class name such as 'L2', got {name!r}")
    if value.get("module") not in (None, f"keras.{kind}"):
        raise ArgumentError(f"module: {value['module']!r}, but only keras.{kind} is read "
                            "from a config (a config is data, not code to import)")
    if value.get("registered_name") not in (None, name):
        raise ArgumentError(f"registered_name: {value['registered_name']!r} is a custom "
                            "object's, and a config can only name Keras's own")
    return {name: value.get("config")}


def _argument_error(subpath: str, message: str) -> ArgumentError:
    """A registry class's argument problem, said with its place inside the value."""
    owner, _, argument = subpath.partition(".")
    return ArgumentError(f"{owner}.{argument}: {message}" if argument else f"{owner}: {message}")


def plain_value(value: Any, described: dict[str, Any] | None = None) -> Any:
    """Values whose kind Keras's docs leave open still have to be data that Keras and YAML
    agree on: finite numbers, strings, booleans, lists, and mappings with string keys."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ArgumentError(f"expected a finite number, got {value!r}")
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ArgumentError(f"mapping keys must be strings, got {value!r}")
        return {key: plain_value(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ArgumentError(f"expected a number, string, list or mapping, got {value!r}")


_CHECKS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "int": _integer,
    "ints": _integers,
    "number": _number,
    "numbers": _numbers,
    "number_map": _number_map,
    "bool": _boolean,
    "string": _string,
    "activation": _activation,
    "initializer": _registry("initializers"),
    "regularizer": _registry("regularizers"),
    "constraint": _registry("constraints"),
    "any": plain_value,
}
_KIND_WORDS = {
    "int": "an integer", "ints": "an integer or a list of integers", "number": "a number",
    "numbers": "a number or a list of numbers", "number_map": "a mapping of names to numbers",
    "bool": "true or false", "string": "a string",
    "activation": "a name such as 'relu'", "initializer": "an initializer such as 'zeros'",
    "regularizer": "a regularizer", "constraint": "a constraint", "any": "a value",
}
# Keras reads null as "none" for these (no activation, no regularizer).
_NULL_MEANS_NONE = ("activation", "regularizer", "constraint")
