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
import math
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
    Discriminator,
    Field,
    Tag,
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
        package = Path(next(iter(spec.submodule_search_locations)))
        init = package.joinpath(*module.split("."), "__init__.py")
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


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------- layer arguments


# TensorFlow counts sizes, epochs and batches in 32-bit integers; larger values would
# overflow in the middle of a run instead of being refused here.
LARGEST_INT = 2**31 - 1


def _integer(value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    if value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"expected {kind}, got {value!r}")
    if value > LARGEST_INT:
        raise ValueError(f"expected an integer <= {LARGEST_INT}, got {value!r}")
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
            suggestion = did_you_mean(str(name), sorted(layer_names))
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
        check = LAYER_ARGUMENT_CHECKS.get(key) or _plain_value
        try:
            checked[key] = check(value)
        except ValueError as error:
            raise _layer_error(f"{layer}.{key}", str(error)) from None
    return checked


def _plain_value(value: Any) -> Any:
    """Arguments we don't type-check still have to be data Keras and YAML agree on:
    finite numbers, strings, booleans, lists, and mappings with string keys."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    if isinstance(value, (list, tuple)):
        return [_plain_value(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError(f"mapping keys must be strings, got {value!r}")
        return {key: _plain_value(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"expected a number, string, list or mapping, got {value!r}")


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)


# --------------------------------------------------------------------------- sections


class Section(BaseModel):
    # NaN and infinity are never meaningful settings (and NaN != NaN breaks comparing configs).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


PositiveInt = typing.Annotated[int, Field(gt=0, le=LARGEST_INT)]
DatasetName = Literal[
    "mnist", "fashion_mnist", "cifar10", "cifar100", "image_folder", "imdb", "raw_text"
]
# Datasets of Keras's preprocessed IMDB word ranks (num_words, maxlen apply).
WORD_INDEX_DATASETS = ("imdb",)
# Datasets whose inputs are reviews: `predict` takes text for these, images otherwise.
TEXT_DATASETS = ("imdb", "raw_text")
# Losses that fit a number rather than a class; everything else is classification.
REGRESSION_LOSSES = frozenset(
    {
        "mean_squared_error", "mse", "mean_absolute_error", "mae",
        "mean_squared_logarithmic_error", "msle", "mean_absolute_percentage_error", "mape",
        "huber", "log_cosh", "logcosh",
    }
)


class VectorizeConfig(Section):
    """Arguments of `keras.layers.TextVectorization`, which turns raw text into arrays.

    `int` gives padded token-index sequences for an Embedding; `multi_hot`, `count` and
    `tf_idf` give one bag-of-words vector per text for Dense layers.
    """

    split: Literal["whitespace", "character"] = "whitespace"
    ngrams: PositiveInt | None = Field(None, description="Also count n-grams up to this n.")
    output_mode: Literal["int", "multi_hot", "count", "tf_idf"] = "int"
    max_tokens: PositiveInt | None = Field(
        None, description="Vocabulary size, counting the padding and OOV entries."
    )
    output_sequence_length: PositiveInt | None = Field(
        None, description="int mode: cut or pad (at the end) every text to this many tokens."
    )
    standardize: Literal[
        "lower_and_strip_punctuation", "lower", "strip_punctuation", "none"
    ] = "lower_and_strip_punctuation"

    @model_validator(mode="after")
    def _sequences_need_a_length(self) -> VectorizeConfig:
        if self.output_mode == "int" and self.output_sequence_length is None:
            raise _invalid(
                "text",
                "output_sequence_length is required with output_mode int (texts differ in "
                "length, and a model takes one length)",
            )
        if self.output_mode != "int" and self.output_sequence_length is not None:
            raise _invalid(
                "text", f"output_sequence_length applies to output_mode int, not {self.output_mode}"
            )
        return self

    def keras_arguments(self) -> dict[str, Any]:
        """The arguments of `keras.layers.TextVectorization`."""
        arguments = self.model_dump(exclude_none=True)
        if self.standardize == "none":
            arguments["standardize"] = None
        return arguments


# Which settings belong to which datasets, so a setting the dataset ignores is an error.
_DATASET_SETTINGS = {
    "imdb": {"num_words", "maxlen"},
    "raw_text": {"format", "train", "test", "text_field", "target", "class_names", "vectorize"},
    "image_folder": {"path", "test_path", "test_split", "image_size", "color_mode"},
}


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
    # raw_text
    format: Literal["aclimdb", "jsonl", "csv"] | None = Field(
        None,
        description="raw_text: aclImdb folders (train/pos/*.txt ...), JSON lines or CSV "
        "(.gz allowed). Leave out to pass texts from Python.",
    )
    train: str | None = Field(
        None, description="raw_text: training files (a glob) or the aclImdb train folder."
    )
    test: str | None = Field(
        None, description="raw_text: test files (a glob) or the aclImdb test folder."
    )
    # Defaults are None (meaning "text", "label", "rgb") so the resolved config of another
    # dataset doesn't carry settings that don't apply to it.
    text_field: str | None = Field(
        None, description="raw_text: the field (column) holding the text (default: text)."
    )
    target: str | None = Field(
        None,
        description="raw_text: the field to predict (default: label): class labels, or a number "
        "(e.g. rating) for a regression loss. For aclimdb: label (pos/neg folder) or rating "
        "(file name).",
    )
    class_names: list[str] | None = Field(
        None, description="raw_text: names of the integer labels 0, 1, ... (e.g. negative, positive)."
    )
    vectorize: VectorizeConfig | None = None
    # image_folder
    path: str | None = Field(None, description="image_folder: a folder with one sub-folder per class.")
    test_path: str | None = Field(
        None, description="image_folder: a folder laid out like `path` holding the test split."
    )
    test_split: float | None = Field(
        None, gt=0, lt=1,
        description="image_folder without test_path: the fraction of `path` held out for test "
        "(default 0.2).",
    )
    image_size: tuple[PositiveInt, PositiveInt] | None = Field(
        None, description="image_folder: every image is resized to [height, width]."
    )
    color_mode: Literal["grayscale", "rgb", "rgba"] | None = Field(
        None, description="image_folder: grayscale, rgb (default) or rgba."
    )

    @property
    def target_field(self) -> str:
        return self.target or "label"

    @model_validator(mode="after")
    def _settings_match_dataset(self) -> DataConfig:
        owned = {key for keys in _DATASET_SETTINGS.values() for key in keys}
        stray = sorted(
            key for key in self.model_fields_set & owned
            if key not in _DATASET_SETTINGS.get(self.dataset, set())
        )
        if stray:
            raise _invalid("text", f"{', '.join(stray)} don't apply to {self.dataset}")
        if self.dataset in WORD_INDEX_DATASETS and self.maxlen is None:
            raise _invalid(
                "text", "maxlen is required for text datasets (reviews differ in length)"
            )
        if self.dataset == "raw_text":
            if self.vectorize is None:
                raise _invalid("text", "raw_text needs a vectorize section (TextVectorization)")
            if self.format is not None and (self.train is None or self.test is None):
                raise _invalid("text", f"format {self.format} needs both train and test")
        if self.dataset == "image_folder":
            if self.path is None or self.image_size is None:
                raise _invalid("text", "image_folder needs path and image_size")
            if self.test_path is not None and self.test_split is not None:
                raise _invalid("text", "set either test_path or test_split, not both")
        return self


class ModelConfig(Section):
    """The model: an ordered list of Keras layers, stacked in a Sequential model."""

    layers: list[LayerSpec] = Field(min_length=1)


class LearningRateSchedule(BaseModel):
    """A `keras.optimizers.schedules` class by name, with its own keyword arguments:
    `{schedule: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 1000, decay_rate: 0.9}`.

    The arguments are Keras's; Keras checks them when the optimizer is built.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    schedule: str

    @field_validator("schedule")
    @classmethod
    def _known_schedule(cls, name: str) -> str:
        known = sorted(
            n for n in keras_public_names("optimizers.schedules")
            if n[0].isupper() and n != "LearningRateSchedule"
        )
        if name not in known:
            raise _invalid(
                "schedule", f"unknown schedule {name!r}{did_you_mean(name, known)}; expected one of "
                f"{', '.join(known)}"
            )
        return name

    def keras_arguments(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _rate_kind(value: Any) -> str:
    # The tags are blank so they stay out of error paths (see _describe).
    return " " if isinstance(value, (dict, LearningRateSchedule)) else ""


# A number or a schedule, told apart by the value's form so that a mistake is reported
# against the one that was meant, not against both.
LearningRate = typing.Annotated[
    typing.Union[
        typing.Annotated[float, Tag("")],
        typing.Annotated[LearningRateSchedule, Tag(" ")],
    ],
    Discriminator(_rate_kind),
]


class OptimizerConfig(Section):
    """A Keras optimizer by name, with the arguments the lecture's update rule uses."""

    name: str
    learning_rate: LearningRate | None = Field(
        None, description="A number, or a schedule from keras.optimizers.schedules."
    )
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

    @field_validator("learning_rate")
    @classmethod
    def _positive_rate(cls, rate: Any) -> Any:
        if isinstance(rate, float) and rate <= 0:
            raise _invalid("rate", f"expected a value > 0, got {rate!r}")
        return rate

    def keras_arguments(self) -> dict[str, Any]:
        """The arguments that were set, for `keras.optimizers.get` (a schedule stays a spec)."""
        return self.model_dump(exclude={"name"}, exclude_none=True)


METRIC_ALIASES = {"acc": "accuracy", "mean_absolute_error": "mae", "mean_squared_error": "mse"}


class CompileConfig(Section):
    """Arguments of `model.compile`."""

    optimizer: OptimizerConfig
    loss: str
    metrics: list[str] = ["accuracy"]

    @field_validator("metrics")
    @classmethod
    def _canonical_metric_names(cls, metrics: list[str]) -> list[str]:
        # Keras logs a metric under the name it was given; reports, plots and references
        # look for `accuracy` and `mae`, so their long spellings are mapped once, here.
        return [METRIC_ALIASES.get(metric, metric) for metric in metrics]

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer_by_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, loss: str) -> str:
        known = sorted(n for n in keras_public_names("losses") if n[0].islower())
        if loss not in known:
            raise _invalid("loss", f"unknown loss {loss!r}{did_you_mean(loss, known)}")
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

    metric: Literal["best_val_accuracy", "test_accuracy", "best_val_mae", "test_mae"]
    value: float
    source: str


class ExecutionConfig(Section):
    """How the model runs, never what it learns: the speed-ups (see README, "Speed").

    `speedups: off` runs the lecture's exact computation: every batch padded to
    data.maxlen, no masking, no XLA. With `auto`, each setting left at `auto` is chosen
    per model family by what measured fastest on this kind of machine.
    """

    speedups: Literal["auto", "off"] = Field(
        "auto", description="off: the lecture's exact computation, as the plain Keras script."
    )
    jit_compile: Literal["auto"] | bool = Field(
        "auto", description="XLA-compile the train and test steps (auto: recurrent models on CPU)."
    )
    bucketing: Literal["auto"] | bool = Field(
        "auto",
        description="Batch reviews of similar length and skip their padding with a mask "
        "(auto: word-index data into an Embedding and a recurrent layer, on CPU).",
    )
    bucket_width: PositiveInt = Field(
        64, description="Bucketed batches are cut to a multiple of this many steps."
    )

    @field_validator("speedups", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as False (and `on` as True).
        return {False: "off", True: "auto"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _off_means_off(self) -> ExecutionConfig:
        forced = [key for key in ("jit_compile", "bucketing") if getattr(self, key) is True]
        if self.speedups == "off" and forced:
            raise _invalid(
                forced[0],
                f"{forced[0]}: true contradicts speedups: off, which turns every speed-up off",
            )
        return self


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
    seed: int = Field(42, ge=0, lt=2**32)  # the range NumPy's seeding accepts
    deterministic: bool = Field(
        False, description="Use TensorFlow's deterministic ops (slower; bit-identical reruns)."
    )
    data: DataConfig
    model: ModelConfig
    compile: CompileConfig
    fit: FitConfig
    output: OutputConfig = OutputConfig()
    execution: ExecutionConfig = ExecutionConfig()
    distribution: DistributionConfig = DistributionConfig()
    reference: ReferenceConfig | None = None

    @property
    def task(self) -> Literal["classification", "regression"]:
        """Regression when the loss fits numbers (mse, mae, ...); classification otherwise."""
        return "regression" if self.compile.loss in REGRESSION_LOSSES else "classification"

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
    _allow_search_expressions(schema)
    return schema


# What `dlcourse tune` accepts in place of a value (checked in full by dlcourse.search_space).
SEARCH_EXPRESSION_SCHEMA: dict[str, Any] = {
    "description": "A value for `dlcourse tune` to search.",
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "tune": {"enum": ["int", "float"]},
                "min": {"type": ["number", "string"]},
                "max": {"type": ["number", "string"]},
                "step": {"type": ["number", "string"]},
                "sampling": {"enum": ["linear", "log"]},
            },
            "required": ["tune", "min", "max"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "tune": {"const": "choice"},
                "values": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": ["number", "string", "boolean"]},
                },
            },
            "required": ["tune", "values"],
            "additionalProperties": False,
        },
    ],
}


def _allow_search_expressions(schema: dict[str, Any]) -> None:
    """Let a search expression stand wherever `dlcourse tune` may search a value.

    Layer arguments accept any value already; the compile and fit values are widened here.
    The validation split stays fixed, as dlcourse.search_space requires.
    """
    definitions = schema["$defs"]
    definitions["SearchExpression"] = SEARCH_EXPRESSION_SCHEMA
    reference = {"$ref": "#/$defs/SearchExpression"}
    for section in ("CompileConfig", "OptimizerConfig", "FitConfig"):
        properties = definitions[section]["properties"]
        for key, value in properties.items():
            if section == "FitConfig" and key in ("validation_split", "validation"):
                continue
            properties[key] = {"anyOf": [value, reference]}


def load_config(
    path: str | Path,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    smoke: bool = False,
) -> Config:
    """Read, override and validate a config file. Raises ConfigError naming the problem.

    A config with search expressions (`units: {tune: int, ...}`) describes many models,
    not one: it is refused here with a pointer to `dlcourse tune`, which searches them.
    """
    # search_space builds on this module (paths, validation), so it is imported here.
    from dlcourse.search_space import load_search_config

    search = load_search_config(path, overrides, smoke=smoke)
    if search.expressions:
        paths = ", ".join(expression.path for expression in search.expressions)
        raise ConfigError(
            f"{path}: searches {len(search.expressions)} values ({paths}), so it describes "
            f"many models, not one. Search them with `dlcourse tune {path}`, then train "
            "the best_config.yaml it writes."
        )
    return search.config


def read_raw_config(
    path: str | Path,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    smoke: bool = False,
) -> dict[str, Any]:
    """A config file as a mapping, named after the file, with `--smoke` and `--set` applied."""
    path = Path(path)
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    if smoke:
        raw = apply_overrides(raw, SMOKE_OVERRIDES, source=path)
    return apply_overrides(raw, overrides, source=path)


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
        raise_problems(source, [_describe(item) for item in error.errors()])


def schema_problems(raw: dict[str, Any]) -> list[str]:
    """What `validate` would report about `raw`, one line each; empty when it is valid."""
    try:
        Config.model_validate(raw)
    except ValidationError as error:
        return [_describe(item) for item in error.errors()]
    return []


def raise_problems(source: str | Path, problems: Sequence[str]) -> typing.NoReturn:
    """One ConfigError listing every problem, each with its path in the file."""
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
        message = f"unknown key{did_you_mean(str(location[-1]), _known_keys(location[:-1]))}"
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
    elif kind == "finite_number":
        message = f"expected a finite number, got {given!r}"
    elif kind == "too_short":
        message = "must not be empty"
    elif kind == "string_pattern_mismatch":
        message = f"expected letters, digits, '_', '-' or '.', got {given!r}"
    else:
        message = error["msg"]
    path = format_path([part for part in location if str(part).strip() != ""])
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
                suggestion = did_you_mean(key, list(section.model_fields))
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
            if field_section is OptimizerConfig and isinstance(node[key], str):
                node[key] = {"name": node[key]}  # `optimizer: rmsprop` is short for {name: rmsprop}
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
