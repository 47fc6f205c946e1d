"""The sections of a config, validated once at load into frozen objects.

After validation the rest of dlcourse works with these typed objects and never re-checks
them. Names of losses, metrics, optimizers and schedules are checked against Keras's own
registries (dlcourse.config.keras_catalog), so a misspelt one is caught by `validate`.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from dlcourse.config.callbacks import CallbackSpec
from dlcourse.config.datasets import DATASET_NAMES, FAMILY_SETTINGS, family
from dlcourse.config.keras_catalog import catalog
from dlcourse.config.layers import (
    LARGEST_INT,
    LARGEST_SIZE,
    ArgumentError,
    LayerSpec,
    check_name,
    check_value,
)
from dlcourse.config.problems import did_you_mean, invalid
from dlcourse.config.safe_yaml import dump


class Section(BaseModel):
    # NaN and infinity are never meaningful settings (and NaN != NaN breaks comparing configs).
    # Strict: `epochs: true` or `seed: "3"` is a mistake to name, not a 1 or a 3 to guess.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


PositiveInt = typing.Annotated[int, Field(gt=0, le=LARGEST_INT)]
# Sizes that allocate memory per unit (vocabularies, sequence lengths, image sides).
Size = typing.Annotated[int, Field(gt=0, le=LARGEST_SIZE)]
DatasetName = Literal[DATASET_NAMES]
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
    ngrams: typing.Annotated[int, Field(gt=0, le=10)] | None = Field(
        None, description="Also count n-grams up to this n."
    )
    output_mode: Literal["int", "multi_hot", "count", "tf_idf"] = "int"
    max_tokens: Size | None = Field(
        None, description="Vocabulary size, counting the padding and OOV entries."
    )
    output_sequence_length: Size | None = Field(
        None, description="int mode: cut or pad (at the end) every text to this many tokens."
    )
    standardize: Literal[
        "lower_and_strip_punctuation", "lower", "strip_punctuation", "none"
    ] = "lower_and_strip_punctuation"

    @model_validator(mode="after")
    def _sequences_need_a_length(self) -> VectorizeConfig:
        if self.output_mode == "int" and self.output_sequence_length is None:
            raise invalid(
                "text",
                "output_sequence_length is required with output_mode int (texts differ in "
                "length, and a model takes one length)",
            )
        if self.output_mode != "int" and self.output_sequence_length is not None:
            raise invalid(
                "text", f"output_sequence_length applies to output_mode int, not {self.output_mode}"
            )
        return self

    def keras_arguments(self) -> dict[str, Any]:
        """The arguments of `keras.layers.TextVectorization`."""
        arguments = self.model_dump(exclude_none=True)
        if self.standardize == "none":
            arguments["standardize"] = None
        return arguments


class DataConfig(Section):
    """Which dataset, how it is preprocessed, and how much of it to use."""

    dataset: DatasetName = Field(description="Which dataset (the table below).")
    num_words: Size | None = Field(
        None, description="Keep the most frequent words; rarer ones become the OOV index 2."
    )
    maxlen: Size | None = Field(
        None, description="Cut or pad every review to this many tokens (pre-padding)."
    )
    limit: PositiveInt | None = Field(
        None, description="Use only the first N examples of each split (for quick runs)."
    )
    dir: str | None = Field(
        None,
        description="Where the dataset's files are (mnist.npz, imdb.npz, ... in Keras's "
        "layout). --data-dir comes first; then this, then DLCOURSE_DATA_DIR, then Keras's cache.",
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

    @field_validator("class_names")
    @classmethod
    def _each_name_once(cls, names: list[str] | None) -> list[str] | None:
        twice = sorted({name for name in names or () if names.count(name) > 1})
        if twice:
            raise invalid("names", f"names {twice[0]!r} twice; each class needs its own name")
        return names

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
    # Not strict as a whole: YAML gives a list, and strict takes only a tuple for a tuple.
    image_size: tuple[typing.Annotated[int, Field(gt=0, le=4096, strict=True)],
                      typing.Annotated[int, Field(gt=0, le=4096, strict=True)]] | None = Field(
        None, strict=False, description="image_folder: every image is resized to [height, width]."
    )
    color_mode: Literal["grayscale", "rgb", "rgba"] | None = Field(
        None, description="image_folder: grayscale, rgb (default) or rgba."
    )

    def own_paths(self) -> dict[str, str]:
        """{'data.path': '/photos', ...}: the paths or patterns this config names its own
        files by (raw text, image folders), by key; none for Keras's datasets."""
        return {f"data.{name}": pattern for name in family(self.dataset).paths
                if (pattern := getattr(self, name)) is not None}

    @property
    def target_field(self) -> str:
        return self.target or "label"

    @model_validator(mode="after")
    def _settings_match_dataset(self) -> DataConfig:
        settings = family(self.dataset).settings
        stray = sorted(key for key in self.model_fields_set & FAMILY_SETTINGS
                       if key not in settings)
        if stray:
            raise invalid("text", f"{', '.join(stray)} "
                          f"{'don' if len(stray) > 1 else 'doesn'}'t apply to {self.dataset}")
        if family(self.dataset).inputs == "word_indices" and self.maxlen is None:
            raise invalid(
                "text", "maxlen is required for text datasets (reviews differ in length)"
            )
        if self.dataset == "raw_text":
            if self.vectorize is None:
                raise invalid("text", "raw_text needs a vectorize section (TextVectorization)")
            if self.format is not None and (self.train is None or self.test is None):
                raise invalid("text", f"format {self.format} needs both train and test")
            if self.text_field not in (None, "text") and self.format == "aclimdb":
                # Its texts are whole files: a field named for them went unread, unsaid.
                # (The default's name, as the shipped configs spell it out, is harmless.)
                raise invalid("text", "text_field names the text's field in JSON lines, CSV "
                              "or a DataFrame; aclimdb's texts are whole files: leave it out")
        if self.dataset == "image_folder":
            if self.path is None or self.image_size is None:
                raise invalid("text", "image_folder needs path and image_size")
            if self.test_path is not None and self.test_split is not None:
                raise invalid("text", "set either test_path or test_split, not both")
        return self


# The last activation each classification loss needs: it takes probabilities.
PROBABILITIES = {"binary_crossentropy": "sigmoid", "bce": "sigmoid",
                 "categorical_crossentropy": "softmax",
                 "sparse_categorical_crossentropy": "softmax",
                 "binary_focal_crossentropy": "sigmoid",
                 "categorical_focal_crossentropy": "softmax"}
# Losses of one output per example for two classes, against 0/1 labels (bce is Keras's
# short name of binary_crossentropy).
BINARY_LOSSES = frozenset({"binary_crossentropy", "bce", "binary_focal_crossentropy", "hinge",
                           "squared_hinge"})
# Losses of one output per class, against one-hot labels (made from the class indices).
CATEGORICAL_LOSSES = frozenset({"categorical_crossentropy", "categorical_focal_crossentropy",
                                "categorical_hinge"})
# Losses comparing outputs with labels element by element: one output against 0/1 labels
# for two classes, else one per class against one-hot labels. With class indices, MNIST's
# training stopped at a shape mismatch in TensorFlow's first step.
ELEMENTWISE_LOSSES = frozenset({"kl_divergence", "kld", "poisson", "cosine_similarity", "dice",
                                "tversky"})


def one_hot_labels(loss: str, num_classes: int) -> bool:
    """Whether `loss` takes one-hot labels (the lecture's `to_categorical`) for that many
    classes."""
    return loss in CATEGORICAL_LOSSES or loss in ELEMENTWISE_LOSSES and num_classes > 2


def activation_problem(loss: str, activation: str | None) -> str | None:
    """What is wrong with a last layer's `activation` (None: not known) for `loss`, said
    after the path to it: "model.layers[2].Dense.activation: 'sigmoid', but ..."."""
    wanted = PROBABILITIES.get(loss)
    if activation is None:
        return None
    if wanted and activation != wanted:
        return f"'{activation}', but {loss} expects probabilities: use activation '{wanted}'"
    if loss in REGRESSION_LOSSES and activation in ("sigmoid", "softmax"):
        return (f"'{activation}', which squeezes the output into [0, 1], but {loss} fits a "
                "number such as a 1-10 rating: use 'linear'")
    return None


def binary_on_classes(loss: str, dataset: str, classes: str) -> str:
    """`classes`: '10 classes', or with their names, as classes_text says them."""
    instead = {"hinge": "categorical_hinge", "squared_hinge": "categorical_hinge",
               "binary_focal_crossentropy": "categorical_focal_crossentropy"}.get(
        loss, "categorical_crossentropy (one-hot labels) or sparse_categorical_crossentropy")
    return f"{loss}, but {dataset} has {classes}: use {instead}"


def _activation_of(spec: LayerSpec) -> str | None:
    """The activation a layer spec ends with as Keras builds it (null and no value are
    'linear'), or None for a layer without one."""
    described = catalog()["layers"].get(spec.name, {}).get("activation")
    if described is None:
        return None
    return spec.args.get("activation", described.get("default")) or "linear"


class ModelConfig(Section):
    """The model: an ordered list of Keras layers, stacked in a Sequential model."""

    layers: list[LayerSpec] = Field(
        min_length=1, description="Keras layers, first to last; the input comes from the data."
    )

    @model_validator(mode="after")
    def _names_are_unique(self) -> ModelConfig:
        """Keras refuses a second layer of the same name when the model is built, where it
        was told as the layer not taking its input."""
        named: dict[str, int] = {}
        for index, spec in enumerate(self.layers):
            name = spec.args.get("name")
            if name is not None and name in named:
                raise invalid("name", f"{name!r} is also the name of model.layers[{named[name]}]; "
                              "a model's layers need names of their own",
                              subpath=f"layers[{index}].{spec.name}.name")
            named.setdefault(name, index)
        return self


class LearningRateSchedule(BaseModel):
    """A `keras.optimizers.schedules` class by name, with its own keyword arguments:
    `{schedule: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 1000, decay_rate: 0.9}`.

    The arguments are Keras's, each checked as Keras describes it (an initial rate of "x"
    was a TypeError in the first step of fit, -5 trained backwards without a word).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    schedule: str

    @field_validator("schedule")
    @classmethod
    def _known_schedule(cls, name: str) -> str:
        known = sorted(catalog()["schedules"])
        if name not in known:
            raise invalid(
                "schedule", f"unknown schedule {name!r}{did_you_mean(name, known)}; expected one of "
                f"{', '.join(known)}"
            )
        return name

    @model_validator(mode="after")
    def _arguments_it_takes(self) -> LearningRateSchedule:
        takes = catalog()["schedules"][self.schedule]
        for key, value in (self.model_extra or {}).items():
            if key not in takes:
                raise invalid("schedule", f"unknown argument of {self.schedule}"
                              f"{did_you_mean(key, sorted(takes))}", subpath=key)
            try:
                check_value(takes[key], value)
                if key == "name":
                    check_name(value)
            except ArgumentError as error:
                raise invalid("schedule", str(error), subpath=key) from None
            numbers = value if isinstance(value, list) else [value]
            if any(isinstance(number, (int, float)) and not isinstance(number, bool)
                   and number < 0 for number in numbers):
                # A negative rate trains backwards, a negative decay grows the rate: both
                # ran without a word.
                raise invalid("schedule", f"{value!r}: a schedule's rates, steps and factors "
                              "are not negative", subpath=key)
        given = {key for key, value in (self.model_extra or {}).items() if value is not None}
        missing = [key for key, described in takes.items()
                   if described.get("required") and key not in given]
        if missing:
            raise invalid("schedule", f"{self.schedule} needs {', '.join(missing)}")
        return self

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

    name: str = Field(description="The optimizer, in any case (sgd, SGD).")
    learning_rate: LearningRate | None = Field(
        None, description="A number, or a schedule from keras.optimizers.schedules."
    )
    momentum: float | None = Field(None, ge=0, lt=1)
    weight_decay: float | None = Field(None, ge=0)

    @classmethod
    def from_name(cls, name: str) -> dict[str, Any]:
        """`optimizer: rmsprop` is short for `optimizer: {name: rmsprop}`."""
        return {"name": name}

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, value: Any) -> Any:
        return cls.from_name(value) if isinstance(value, str) else value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler) -> dict[str, Any]:
        # By name in any case (`SGD`), or as a mapping with its arguments.
        return {"anyOf": [{"type": "string"}, handler(core_schema)]}

    @field_validator("name")
    @classmethod
    def _known_optimizer(cls, name: str) -> str:
        known = sorted(catalog()["optimizers"])
        if name.lower() not in known:
            raise invalid(
                "optimizer",
                f"unknown optimizer {name!r}{did_you_mean(name.lower(), known)}; expected one "
                f"of {', '.join(known)}",
            )
        return name.lower()

    @model_validator(mode="after")
    def _arguments_it_takes(self) -> OptimizerConfig:
        optimizers = catalog()["optimizers"]
        for key in ("momentum", "weight_decay"):
            if getattr(self, key) is not None and key not in optimizers[self.name]:
                # Listed from the catalog: a fixed "sgd and rmsprop" left out muon.
                taking = [name for name, takes in sorted(optimizers.items()) if key in takes]
                raise invalid("optimizer", f"{self.name} takes no {key} ({', '.join(taking)} "
                              f"take {key})", subpath=key)
        return self

    @field_validator("learning_rate")
    @classmethod
    def _positive_rate(cls, rate: Any) -> Any:
        if isinstance(rate, float) and rate <= 0:
            raise invalid("rate", f"expected a value > 0, got {rate!r}")
        return rate

    def keras_arguments(self) -> dict[str, Any]:
        """The arguments that were set, for `keras.optimizers.get` (a schedule stays a spec)."""
        return self.model_dump(exclude={"name"}, exclude_none=True)


METRIC_ALIASES = {"acc": "accuracy", "mean_absolute_error": "mae", "mean_squared_error": "mse"}


class CompileConfig(Section):
    """Arguments of `model.compile`."""

    optimizer: OptimizerConfig = Field(
        description="A Keras optimizer by name (rmsprop), or {name: sgd, learning_rate: ...}."
    )
    loss: str = Field(description="A Keras loss by name; a regression loss makes a regression.")
    metrics: list[str] = Field(["accuracy"], description="Keras metrics by name (default: "
                               "accuracy, or mae for a regression loss).")

    @model_validator(mode="before")
    @classmethod
    def _measure_of_the_task(cls, raw: Any) -> Any:
        """A regression loss without `metrics` measures MAE: it measured accuracy, which a
        regression has none of, and its report and plots showed that instead of MAE."""
        loss = raw.get("loss") if isinstance(raw, dict) else None
        if isinstance(loss, str) and "metrics" not in raw and loss in REGRESSION_LOSSES:
            return {**raw, "metrics": ["mae"]}
        return raw

    @field_validator("metrics")
    @classmethod
    def _canonical_metric_names(cls, metrics: list[str]) -> list[str]:
        known = catalog()["metrics"]
        for metric in metrics:
            if metric not in known:
                raise invalid("metric", f"unknown metric {metric!r}{did_you_mean(metric, known)}")
        # Keras logs a metric under the name it was given; reports, plots and references
        # look for `accuracy` and `mae`, so their long spellings are mapped once, here.
        return [METRIC_ALIASES.get(metric, metric) for metric in metrics]

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, loss: str) -> str:
        known = catalog()["losses"]
        if loss not in known:
            raise invalid("loss", f"unknown loss {loss!r}{did_you_mean(loss, known)}")
        if loss == "ctc":
            raise invalid("loss", "ctc scores a sequence of labels per example (a line of "
                          "handwriting, speech), but every dataset here has one label per "
                          "example: use sparse_categorical_crossentropy")
        return loss


class FitConfig(Section):
    """Arguments of `model.fit`. Validate on a fraction of the training data or on test."""

    epochs: PositiveInt = Field(description="Passes over the training data.")
    batch_size: PositiveInt = Field(32, description="Examples per gradient step.")
    validation_split: float | None = Field(
        None, gt=0, lt=1,
        description="Hold out this last fraction of the training data to validate on.",
    )
    validation: Literal["test"] | None = Field(
        None, description="Validate on the held-out test split instead of a fraction of train."
    )
    callbacks: list[CallbackSpec] = Field(
        [], description="Keras callbacks by class name: EarlyStopping, ReduceLROnPlateau, "
        "TerminateOnNaN, with Keras's own arguments."
    )

    @model_validator(mode="after")
    def _one_validation_source(self) -> FitConfig:
        if self.validation_split is not None and self.validation is not None:
            raise invalid("validation", "set either validation_split or validation, not both")
        return self


class MlflowConfig(Section):
    """Track the run in MLflow (needs `pip install 'dlcourse[mlflow]'`)."""

    tracking_uri: str | None = Field(
        None, max_length=2000,
        description="MLflow's store: a folder, a file: URI or a server's http(s) URL. "
        "Default: $MLFLOW_TRACKING_URI, else ./mlruns.")
    experiment: str | None = Field(None, min_length=1, max_length=500,
                                   description="The MLflow experiment (default: the config's name).")


class OutputConfig(Section):
    """Where runs are written and what goes in them."""

    dir: str = Field("runs", description="Runs go to <dir>/<config name>/<time>/.")
    plots: bool = Field(True, description="Draw the curves, confusion matrix and mistakes.")
    tensorboard: bool = Field(False, description="Write TensorBoard logs to <run>/tensorboard.")
    mlflow: MlflowConfig | None = Field(
        None, description="Log the run to MLflow: params, every epoch, test metrics, the run "
        "directory (or --track mlflow).")


class ReferenceConfig(Section):
    """A published result this config should reproduce."""

    metric: Literal["best_val_accuracy", "test_accuracy", "best_val_mae", "test_mae"] = Field(
        description="Which measured figure the published one is compared with."
    )
    value: float = Field(description="The published figure.")
    source: str = Field(description="Where it was published, as the report cites it.")
    epochs: int | None = Field(
        None, ge=1, description="The epochs the published figure trained for: a run of fewer "
        "(an edited copy, a tuned best_config.yaml) is reported as reduced, not compared.")


class ExecutionConfig(Section):
    """How the model runs, never what it learns: the speed-ups (see docs/speed.md).

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
            raise invalid(
                forced[0],
                f"{forced[0]}: true contradicts speedups: off, which turns every speed-up off",
            )
        return self


class DistributionConfig(Section):
    """Data-parallel training with TensorFlow's tf.distribute (see docs/distributed.md).

    `fit.batch_size` is the global batch: each step splits it across all replicas.
    """

    strategy: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="none: one device; mirrored: all local devices of this machine; "
        "multi_worker: several processes or machines, the cluster read from TF_CONFIG.",
    )
    # At most 64: each device is a replica of the model with its own threads, and 2,000
    # hung the run for minutes while its memory grew past 4.8 GB.
    logical_cpu_devices: PositiveInt | None = Field(
        None, le=64,
        description="Split the CPU into this many devices for the mirrored strategy "
        "(to try or test data parallelism without GPUs; at most 64).",
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
            raise invalid(
                "distribution",
                f"logical_cpu_devices applies to strategy mirrored only, not {self.strategy}",
            )
        if self.communication != "auto" and self.strategy != "multi_worker":
            raise invalid(
                "distribution",
                f"communication applies to strategy multi_worker only, not {self.strategy}",
            )
        return self


class Config(Section):
    """A whole experiment: data, model, compile and fit settings, seed and output."""

    # The run's folder name: one path component that can't climb out (`..`) or read as an
    # option (`-rf`).
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100,
                      description="The run's folder name (default: the file's name, '_' for "
                                  "each character a folder name here can't hold).")
    seed: int = Field(  # the range NumPy's seeding accepts
        42, ge=0, lt=2**32, description="Seeds Python, NumPy and TensorFlow."
    )
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

    @model_validator(mode="after")
    def _each_replica_has_examples(self) -> Config:
        devices = self.distribution.logical_cpu_devices
        if devices is not None and self.fit.batch_size < devices:
            # Each replica takes its share of a batch: one of none was TensorFlow's
            # traceback ("AddN must have the same size").
            raise invalid("batch_size", f"{self.fit.batch_size}, fewer examples than the "
                          f"{devices} devices (distribution.logical_cpu_devices) it is split "
                          "over; give each at least one", subpath="fit.batch_size")
        return self

    @model_validator(mode="after")
    def _class_names_for_classes(self) -> Config:
        if self.task == "regression" and self.data.class_names:
            raise invalid("class_names", f"a regression ({self.compile.loss}) predicts a "
                          "number and has no classes to name; remove data.class_names",
                          subpath="data.class_names")
        return self

    @model_validator(mode="after")
    def _last_activation_fits_the_loss(self) -> Config:
        """Checked at load, so `validate` says what `train` would refuse. The output's
        width depends on the data, and the builder checks it."""
        classes = family(self.data.dataset).num_classes
        if self.compile.loss in BINARY_LOSSES and classes not in (None, 2):
            raise invalid("loss", binary_on_classes(self.compile.loss, self.data.dataset,
                                                    f"{classes} classes"),
                          subpath="compile.loss")
        last = self.model.layers[-1]
        problem = activation_problem(self.compile.loss, _activation_of(last))
        if problem:
            raise invalid("activation", problem, subpath=f"model.layers[{len(self.model.layers) - 1}]"
                          f".{last.name}.activation")
        return self

    @model_validator(mode="after")
    def _callbacks_watch_what_fit_logs(self) -> Config:
        for index, callback in enumerate(self.fit.callbacks):
            path = f"fit.callbacks[{index}].{callback.name}"
            problem = self._callback_problem(callback)
            if problem:
                raise invalid("callback", problem, subpath=path)
        return self

    def _callback_problem(self, callback: CallbackSpec) -> str | None:
        if self.distribution.strategy == "multi_worker":
            return ("a cluster's backups (Keras's BackupAndRestore) don't keep a callback's "
                    "state, so a restarted worker would forget it; train on one machine "
                    "(strategy none or mirrored) to use fit.callbacks")
        if (callback.name == "ReduceLROnPlateau"
                and isinstance(self.compile.optimizer.learning_rate, LearningRateSchedule)):
            return ("it sets the learning rate, and compile.optimizer.learning_rate is a "
                    "schedule, which already does; use one or the other")
        monitor = callback.monitor
        if monitor is None:
            return None
        logged = ["loss", *self.compile.metrics]
        validated = self.fit.validation is not None or self.fit.validation_split is not None
        if validated:
            logged += [f"val_{name}" for name in logged]
        if monitor not in logged:
            hint = ("; fit has no validation data, so there is no val_ value: set "
                    "fit.validation_split" if monitor.startswith("val_") and not validated else "")
            return (f"monitor: {monitor!r} is not a value the fit logs{did_you_mean(monitor, logged)}"
                    f" (it logs {', '.join(logged)}){hint}")
        if monitor.startswith("val_") and self.fit.validation == "test":
            return (f"monitor: {monitor} would be measured on the test split (fit.validation: "
                    "test), so the test split would choose the epoch or the learning rate. "
                    "Validate on a fraction of the training data instead (fit.validation_split)")
        return None

    def to_yaml(self) -> str:
        """The resolved config, as a YAML file that `load_config` reads back unchanged."""
        data = self.model_dump(mode="json", exclude_none=True)
        return dump(data, sort_keys=False)




# --------------------------------------------------------------------------- the section tree


def section_class(annotation: Any) -> type[BaseModel] | None:
    """The section class a field holds (through `X | None`), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            if isinstance(option, type) and issubclass(option, Section):
                return option
    return None


def section_at(location: typing.Sequence[str | int]) -> type[BaseModel] | None:
    """The section at a path of keys (('compile', 'optimizer') -> OptimizerConfig)."""
    section: type[BaseModel] | None = Config
    for part in location:
        if section is None or not isinstance(part, str) or part not in section.model_fields:
            return None
        section = section_class(section.model_fields[part].annotation)
    return section


def known_keys(location: typing.Sequence[str | int]) -> list[str]:
    section = section_at(location)
    return list(section.model_fields) if section else []
