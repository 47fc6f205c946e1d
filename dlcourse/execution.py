"""Execution: the speed-ups that change how a model runs, never what it learns.

Two speed-ups pay on CPU for the lecture's recurrent models (benchmarks/RESULTS.md):

- Length bucketing. The mean IMDB review is about 220 of its 500 padded steps, and a
  recurrent layer costs the same for a padding step as for a word. Batches of reviews
  of similar length, cut to a few fixed lengths, skip most of that padding; the
  Embedding's `mask_zero` makes the recurrent layers skip what padding is left, so a
  review gets the same result in any batch as padded to `data.maxlen`.
- XLA (`jit_compile`), which fuses the many small ops of each recurrent step.

Neither pays for the convnets (XLA made the MNIST CNN several times slower), so `auto`
leaves them off there, and off on accelerators, where Keras picks cuDNN and XLA itself.
`execution.speedups: off` turns everything off: the lecture's exact computation.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterator

import keras
import numpy as np

from dlcourse.config import Config, LayerSpec, family
from dlcourse.data import Dataset, one_hot_if_needed
from dlcourse.errors import ConfigError, DataError
from dlcourse.tensorflow_setup import xla_cache_dir

RECURRENT_LAYERS = frozenset({"SimpleRNN", "LSTM", "GRU", "Bidirectional"})
# Layers that may sit between the Embedding and the recurrent layer and pass its mask on.
MASK_PASSING_LAYERS = frozenset({"Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout"})


# XLA compiles every batch shape of a run once (about 2 s a shape for the lecture's LSTM
# on 2 CPU cores, 30 s for a run's 15 shapes) and then saves about 0.03 s a step; below
# this many training steps the compiling costs more than it saves. The full IMDB run
# takes 1,570 steps; 2 epochs on 5,000 reviews 64; --smoke 2.
XLA_MIN_STEPS = 1000
# Below this many steps, batches of new lengths cost more (one graph trace each) than the
# padding they skip.
BUCKETING_MIN_STEPS = 10
# A SimpleRNN step is one small matrix product: without XLA, the mask's per-step select
# costs about what the skipped padding saved (benchmarks: 1.05-1.20x slower on 5,000 and
# 8,000 reviews), so it is bucketed only where XLA fuses the select into the step. The
# gated layers' steps are several products each, and bucketing alone pays for them.
GATED_LAYERS = frozenset({"LSTM", "GRU"})
COMPILE_SECONDS_PER_SHAPE = 2


@dataclass(frozen=True)
class ExecutionPlan:
    """The speed-ups a run uses; the default is none, the lecture's exact computation.

    `jit_compile` None leaves XLA to Keras, as a plain script does (off on CPU).
    """

    jit_compile: bool | None = None
    bucketing: bool = False
    bucket_width: int = 64
    # Why the plan is what it is, in a sentence for people (summary, the run's record).
    reason: str = field(default="execution.speedups: off, the lecture's exact computation",
                        compare=False)

    def describe(self) -> dict[str, Any]:
        """What metrics.json records, so a run says how it was computed."""
        plan = asdict(self)
        del plan["reason"]
        if not self.bucketing:
            del plan["bucket_width"]
        return plan

    @classmethod
    def recorded(cls, record: Any) -> ExecutionPlan:
        """The bucketing `describe` wrote into a run's metrics.json, or the exact computation
        where the record is missing or isn't one (the file is read from disk)."""
        if not isinstance(record, dict) or record.get("bucketing") is not True:
            return EXACT
        width = record.get("bucket_width")
        if type(width) is not int or width < 1:
            return EXACT
        return cls(jit_compile=record.get("jit_compile") is True or None, bucketing=True,
                   bucket_width=width, reason="as the run was trained")

    def sentence(self) -> str:
        """The plan as a sentence: 'Length-bucketed batches with XLA, because ...'."""
        used = [name for name, on in (("length-bucketed batches", self.bucketing),
                                      ("XLA", self.jit_compile is True)) if on]
        what = " and ".join(used) if used else "no speed-ups"
        what = what[0].upper() + what[1:]
        return f"{what}: {self.reason}."


EXACT = ExecutionPlan()


def plan_execution(
    config: Config, *, accelerator: bool | None = None, train_samples: int | None = None
) -> ExecutionPlan:
    """Resolve `config.execution`'s `auto` settings for this model on this machine.

    `accelerator` says whether a GPU is present; None asks TensorFlow. `train_samples`
    (before the validation split) sizes the run, so a short run gets only the speed-ups
    that pay within it; None plans for the whole dataset.
    """
    settings = config.execution
    if settings.speedups == "off":
        return EXACT
    bucketable = _bucketable(config)
    if settings.bucketing is True and not bucketable:
        raise ConfigError(
            f"{config.name}: execution.bucketing: true needs Keras-padded word indices "
            "(data.dataset: imdb) going into an Embedding, then only recurrent layers until "
            "one returns a single vector: their mask skips the padding, which a pooling or "
            "convolution over the steps would see. Use auto or false."
        )
    distributed = config.distribution.strategy != "none"
    forced = [key for key in ("jit_compile", "bucketing") if getattr(settings, key) is True]
    if distributed and forced:
        raise ConfigError(
            f"{config.name}: execution.{forced[0]}: true is not supported with "
            f"distribution.strategy: {config.distribution.strategy}; use auto (off there)."
        )
    if distributed:
        return replace(EXACT, reason=f"training with distribution.strategy: "
                                     f"{config.distribution.strategy} keeps Keras's defaults")
    if accelerator is None:
        accelerator = _has_accelerator()
    steps = training_steps(config, train_samples)
    recurrent, gated = _is_recurrent(config.model.layers), _is_gated(config.model.layers)
    xla = not accelerator and recurrent and (steps is None or steps >= XLA_MIN_STEPS)
    bucketing = (not accelerator and recurrent and bucketable
                 and (steps is None or steps >= BUCKETING_MIN_STEPS) and (xla or gated))
    return ExecutionPlan(
        jit_compile=(xla or None) if settings.jit_compile == "auto" else settings.jit_compile,
        bucketing=bucketing if settings.bucketing == "auto" else settings.bucketing,
        bucket_width=settings.bucket_width,
        reason=_reason(accelerator, recurrent, bucketable, steps, gated),
    )


def training_steps(config: Config, train_samples: int | None) -> int | None:
    """The gradient steps the run will take, or None when the data isn't known."""
    if train_samples is None:
        return None
    if config.fit.validation_split is not None:
        train_samples = validation_cut(train_samples, config.fit.validation_split)
    return config.fit.epochs * -(-train_samples // config.fit.batch_size)


def _reason(accelerator: bool, recurrent: bool, bucketable: bool, steps: int | None,
            gated: bool) -> str:
    if accelerator:
        return "on a GPU, Keras's defaults (cuDNN, XLA) are the fast ones"
    if not recurrent:
        return ("only recurrent models gain from them on a CPU (XLA made the MNIST CNN "
                "several times slower)")
    run = f"a run of {steps:,} steps" if steps is not None else "the full data"
    if steps is not None and steps < BUCKETING_MIN_STEPS:
        return f"{run} is too short to repay tracing batches of new lengths"
    if steps is not None and steps < XLA_MIN_STEPS:
        held = "" if not bucketable else (
            "bucketing skips the padding; " if gated
            else "a SimpleRNN gains from bucketing only with XLA; ")
        return (f"{held}{run} is too short to repay XLA's compiling (it pays from "
                f"{XLA_MIN_STEPS:,} steps)")
    if bucketable:
        return f"the recurrent layer skips most of the padding, and XLA's compiling pays in {run}"
    return f"XLA fuses each recurrent step's small operations, and its compiling pays in {run}"


def _is_recurrent(layers: list[LayerSpec]) -> bool:
    return any(spec.name in RECURRENT_LAYERS for spec in layers)


def _is_gated(layers: list[LayerSpec]) -> bool:
    """An LSTM or GRU, alone or wrapped (Bidirectional)."""
    def gated(spec: LayerSpec) -> bool:
        inner = spec.args.get("layer")
        return spec.name in GATED_LAYERS or (isinstance(inner, LayerSpec) and gated(inner))
    return any(gated(spec) for spec in layers)


def _bucketable(config: Config) -> bool:
    """Word indices padded in front by Keras, into an Embedding whose mask reaches a
    recurrent layer, and a mask the config doesn't refuse."""
    layers = config.model.layers
    if family(config.data.dataset).inputs != "word_indices" or config.data.maxlen is None:
        return False
    if layers[0].name != "Embedding" or layers[0].args.get("mask_zero") is False:
        return False
    return _padding_stays_in_recurrent_layers(layers[1:])


def _padding_stays_in_recurrent_layers(layers: list[LayerSpec]) -> bool:
    """Recurrent layers (and layers passing the mask on) up to one that returns a single
    vector: no layer that would see the padding (a Conv1D, a pooling over time) gets the
    sequences, so a cut batch computes what the padded one does."""
    for spec in layers:
        if spec.name in MASK_PASSING_LAYERS:
            continue
        if spec.name not in RECURRENT_LAYERS:
            return False
        inner = spec.args.get("layer")
        settings = inner.args if isinstance(inner, LayerSpec) else spec.args
        if not settings.get("return_sequences", False):
            return True
    return False


def _has_accelerator() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def sequence_lengths(x: np.ndarray) -> np.ndarray:
    """Tokens per row of front-padded sequences: everything from the first non-zero on."""
    nonzero = x != 0
    first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), x.shape[1])
    return x.shape[1] - first


def cut_lengths(x: np.ndarray, width: int) -> np.ndarray:
    """Each row's length rounded up to a multiple of `width`, at most the padded length."""
    width = min(width, x.shape[1])  # the same cuts, and no overflow for a huge width
    bucketed = -(-np.maximum(sequence_lengths(x), 1) // width) * width
    return np.minimum(bucketed, x.shape[1])


def length_groups(x: np.ndarray, width: int) -> list[tuple[int, np.ndarray]]:
    """The rows of `x` by their cut length, shortest first: `x[rows, -length:]` holds every
    token of those rows, and the mask skips the padding left, as in training's buckets."""
    cut = cut_lengths(x, width)
    return [(int(length), np.flatnonzero(cut == length)) for length in np.unique(cut)]


class EpochBatches:
    """Batches of rows taken from arrays as fit asks for them, through a prefetching
    tf.data pipeline. With a `seed`, each epoch draws its own order from (seed, epoch), so
    an epoch's batches are the same whether the run was resumed or not; without one
    (validation), the order is fixed. Subclasses say which rows make each batch, and how
    the pipeline takes them."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None = None):
        self.x, self.y = x, y
        self.batch_size, self.seed = batch_size, seed
        self._next_epoch = 0

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """The row indices of each batch of `epoch`, in the order they are trained on."""
        raise NotImplementedError

    def shapes(self) -> set[tuple[int, ...]]:
        """The shape of every batch (its rows, and for cut batches their length): the same
        in every epoch."""
        return {(len(rows),) for rows in self.batches(0)}

    def dataset(self):
        """A prefetching tf.data pipeline of this epoch's batches, one epoch per pass."""
        raise NotImplementedError

    def _chunks(self, rows: np.ndarray) -> list[np.ndarray]:
        return [rows[start:start + self.batch_size] for start in range(0, len(rows), self.batch_size)]

    def _epoch_batch_rows(self) -> list[np.ndarray]:
        # Keras opens the next epoch's iterator before that epoch begins, so the epoch
        # is counted here, from the first one the callback saw.
        epoch = self._next_epoch
        self._next_epoch += 1
        return self.batches(epoch)

    def callback(self) -> keras.callbacks.Callback:
        """Tells the batches which epoch fit starts at (not 0 for a resumed run)."""
        return _FirstEpoch(self)


class RowBatches(EpochBatches):
    """The rows in batches, shuffled each epoch as Keras shuffles arrays, from one copy of
    them: for a wide bag of words, of which Keras's own path for NumPy arrays held about
    four (imdb_bow_bigrams' 2 GB took 7.8 GB)."""

    def batches(self, epoch: int) -> list[np.ndarray]:
        if self.seed is None:
            return self._chunks(np.arange(len(self.x)))
        return self._chunks(np.random.default_rng([self.seed, epoch]).permutation(len(self.x)))

    def _epoch_order(self) -> Iterator[np.ndarray]:
        yield np.concatenate(self._epoch_batch_rows())

    def dataset(self):
        """Only the epoch's order passes through Python, once an epoch; the rows are
        gathered by TensorFlow from one copy of the arrays, in parallel with training (a
        Python generator of the rows themselves made an epoch of imdb_bow_bigrams take
        twice as long)."""
        import tensorflow as tf

        x, y = tf.constant(self.x), tf.constant(self.y)
        order = tf.data.Dataset.from_generator(
            self._epoch_order, output_signature=tf.TensorSpec((None,), tf.int64))
        rows = order.flat_map(
            lambda rows: tf.data.Dataset.from_tensor_slices(rows).batch(self.batch_size))
        # float16 rows are half the memory; the batches are float32, as Keras gives the
        # model (fed float16, the epochs took twice as long).
        batches = rows.map(
            lambda picked: (tf.cast(tf.gather(x, picked), tf.float32), tf.gather(y, picked)),
            num_parallel_calls=tf.data.AUTOTUNE)
        return batches.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(
            tf.data.AUTOTUNE)


class LengthBuckets(EpochBatches):
    """Batches of similar-length sequences, each cut to a multiple of `width` steps.

    An epoch's rows are shuffled, then sorted by their cut length (so each batch is a
    random draw from one length), and the batches shuffled. Every epoch has batches of
    the same lengths, so XLA compiles them all in the first. Without a seed (validation),
    the order is fixed by length. A last, smaller batch keeps the full length, so its
    shape is the same every epoch too.
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, width: int, seed: int | None = None
    ):
        super().__init__(x, y, batch_size, seed)
        self.cut = cut_lengths(x, width)

    def batches(self, epoch: int) -> list[np.ndarray]:
        if self.seed is None:
            return self._chunks(np.argsort(self.cut, kind="stable"))
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.x))
        batches = self._chunks(order[np.argsort(self.cut[order], kind="stable")])
        return [batches[index] for index in rng.permutation(len(batches))]

    def length_of(self, rows: np.ndarray) -> int:
        if len(rows) < self.batch_size:
            return self.x.shape[1]
        return int(self.cut[rows].max())

    def shapes(self) -> set[tuple[int, ...]]:
        return {(len(rows), self.length_of(rows)) for rows in self.batches(0)}

    def padded_steps_fraction(self, epoch: int = 0) -> float:
        """The share of the padded steps that this epoch's batches compute."""
        steps = sum(len(rows) * self.length_of(rows) for rows in self.batches(epoch))
        return steps / self.x.size

    def _epoch_batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for rows in self._epoch_batch_rows():
            yield self.x[rows, -self.length_of(rows):], self.y[rows]

    def dataset(self):
        """The cut batches from a Python generator, each its own length."""
        import tensorflow as tf

        signature = (
            tf.TensorSpec((None, None), tf.as_dtype(self.x.dtype)),
            tf.TensorSpec((None, *self.y.shape[1:]), tf.as_dtype(self.y.dtype)),
        )
        dataset = tf.data.Dataset.from_generator(self._epoch_batches, output_signature=signature)
        return dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(
            tf.data.AUTOTUNE
        )


class _FirstEpoch(keras.callbacks.Callback):
    def __init__(self, batches: EpochBatches):
        super().__init__()
        self.batches, self.seen = batches, False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self.seen:
            self.batches._next_epoch = epoch
            self.seen = True


def _batch_sizes(samples: int, batch_size: int) -> set[int]:
    """The sizes of the batches `samples` make: full ones, and a last smaller one."""
    sizes = {batch_size} if samples >= batch_size else set()
    return sizes | ({samples % batch_size} if samples % batch_size else set())


def validation_cut(samples: int, validation_split: float) -> int:
    """Where Keras's `validation_split` cuts: the last fraction, unshuffled, is held out.
    A cut that leaves either side empty is refused here, before any run directory,
    rather than as Keras's ValueError in the middle of `fit`."""
    cut = int(np.floor(samples * (1.0 - validation_split)))
    if cut == 0 or cut == samples:
        raise DataError(
            f"fit.validation_split={validation_split} of {samples} training example(s) "
            f"leaves {'no training' if cut == 0 else 'no validation'} example: Keras "
            "needs at least one on each side. Use more data (data.limit) or another "
            "fraction (--set fit.validation_split=...)."
        )
    return cut


@dataclass(frozen=True)
class FitInputs:
    """model.fit's data arguments under a plan, the callbacks they need, and the number
    of steps an epoch takes."""

    arguments: dict[str, Any]
    steps_per_epoch: int
    callbacks: list = field(default_factory=list)
    # How many different batch shapes an epoch has, training and validation.
    batch_shapes: int = 1


def fit_inputs(config: Config, dataset: Dataset, plan: ExecutionPlan) -> FitInputs:
    """The training arrays as they are, or length-bucketed batches; validation as the
    config says (a split of the training data, or the test split)."""
    fit, loss = config.fit, config.compile.loss
    x, y = dataset.x_train, one_hot_if_needed(dataset.y_train, dataset.num_classes, loss)
    validation = None
    if fit.validation == "test":
        validation = (dataset.x_test, one_hot_if_needed(dataset.y_test, dataset.num_classes, loss))
    if dataset.input_kind == "bag_of_words" and not plan.bucketing and _too_large_for_keras(
            x.nbytes + (validation[0].nbytes if validation is not None else 0)):
        return _epoch_batched(config, x, y, validation, lambda rows, targets, seed: RowBatches(
            rows, targets, fit.batch_size, seed))
    if not plan.bucketing:
        arguments: dict[str, Any] = {"x": x, "y": y, "batch_size": fit.batch_size}
        trained, held_out = len(x), len(validation[0]) if validation is not None else 0
        if fit.validation_split is not None:
            arguments["validation_split"] = fit.validation_split
            trained = validation_cut(len(x), fit.validation_split)
            held_out = len(x) - trained
        elif validation is not None:
            arguments["validation_data"] = validation
        shapes = len(_batch_sizes(trained, fit.batch_size)) + len(
            _batch_sizes(held_out, fit.batch_size))
        return FitInputs(arguments, -(-trained // fit.batch_size), batch_shapes=shapes)
    return _epoch_batched(config, x, y, validation, lambda rows, targets, seed: LengthBuckets(
        rows, targets, fit.batch_size, plan.bucket_width, seed))


def _epoch_batched(config: Config, x: np.ndarray, y: np.ndarray,
                   validation: tuple[np.ndarray, np.ndarray] | None, batched) -> FitInputs:
    """The training data, and the validation data held out where Keras's validation_split
    holds it out, as `batched(x, y, seed)` makes them (an EpochBatches; no seed: in order)."""
    if config.fit.validation_split is not None:
        cut = validation_cut(len(x), config.fit.validation_split)
        x, y, validation = x[:cut], y[:cut], (x[cut:], y[cut:])
    train = batched(x, y, config.seed)
    arguments = {"x": train.dataset(), "shuffle": False}  # the batches shuffle each epoch
    shapes = len(train.shapes())
    if validation is not None:
        held_out = batched(*validation, None)
        arguments["validation_data"] = held_out.dataset()
        shapes += len(held_out.shapes())
    return FitInputs(arguments, len(train), [train.callback()], batch_shapes=shapes)


# Keras's own path for NumPy arrays peaks at about this many times their size (it makes
# float32 tensors of float16 rows): imdb_bow_bigrams' 2 GB of bags took 7.8 GB.
KERAS_ARRAY_COPIES = 4


def _too_large_for_keras(array_bytes: int) -> bool:
    """Whether Keras's copies of the arrays would take more than half the machine's memory.
    Then RowBatches feeds them from one copy: 4.7 GB for imdb_bow_bigrams, at about twice
    the seconds per epoch (7 s against 3 s on 2 cores), so only where memory asks it."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this system: no rule
        return False
    return KERAS_ARRAY_COPIES * array_bytes > memory / 2


def compile_notice(plan: ExecutionPlan, inputs: FitInputs) -> str | None:
    """What to tell a user before a first epoch that will spend time compiling with XLA."""
    if plan.jit_compile is not True:
        return None
    seconds = COMPILE_SECONDS_PER_SHAPE * inputs.batch_shapes
    return (
        f"XLA compiles this run's {inputs.batch_shapes} batch shapes in its first epoch: "
        f"about {seconds} s on this machine the first time; later runs load them from "
        f"{xla_cache_dir()}."
    )
