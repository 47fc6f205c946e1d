"""A trained model's predictions recomputed by hand, with the NumPy reference.

`explain_run` reads a run's saved weights, sends the first test inputs through
`dlcourse.reference` one layer at a time, and measures how far the result is from
Keras's `model.predict`. A difference of about 1e-6 shows that the lecture's formulas are
all the trained network computes. Each layer is also compared on its own: the Keras layer
and its reference function get the same input, so a mismatch points at one layer.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from dlcourse import reference
from dlcourse.config import format_path
from dlcourse.errors import DlcourseError
from dlcourse.preflight import recorded_data_dir
from dlcourse.preparation import check_model_takes, run_dataset
from dlcourse.reports import feature_maps_figure
from dlcourse.rundir import RunDir


class UnsupportedLayer(DlcourseError):
    """The model has a layer (or a layer setting) the NumPy reference does not implement."""


@dataclass(frozen=True)
class LayerExplanation:
    """One layer: what it is, what it produced, how close the reference came to Keras."""

    path: str  # where the layer is in the config, e.g. model.layers[1].LSTM
    name: str  # Keras's name for the layer object, e.g. lstm
    output_shape: tuple[int | None, ...]  # per example; None: varies with the sequence
    max_abs_difference: float  # against the Keras layer given the same input


@dataclass(frozen=True)
class Explanation:
    run_dir: Path
    samples: int
    layers: tuple[LayerExplanation, ...]
    max_abs_difference: float  # the reference's output against model.predict
    feature_maps: Path | None  # the first Conv2D's maps of the first test image, if any


# Each layer's output for every sample is held at once: 10,000 MNIST samples took 5.9 GB.
MOST_SAMPLES = 256


def explain_run(
    run_dir: str | Path, samples: int = 8, data_dir: str | Path | None = None
) -> Explanation:
    """Recompute the run's predictions for the first `samples` test inputs with NumPy.

    Raises UnsupportedLayer, naming the layer, before any computing if the model has a
    layer the reference does not implement.
    """
    if not 1 <= samples <= MOST_SAMPLES:
        raise DlcourseError(f"--samples {samples}: explain recomputes 1 to {MOST_SAMPLES} test "
                            "inputs (all at once, layer by layer, in NumPy).")
    run = RunDir(run_dir).require()
    config = run.read_config()
    model = run.load_model()
    steps = [reference_layer(layer, index) for index, layer in enumerate(model.layers)]
    dataset = run_dataset(run, config, recorded_data_dir(run, data_dir, test_only=True),
                          command="explain")
    check_model_takes(run, config, model, dataset)
    inputs = dataset.x_test[:samples].astype(dataset.input_dtype)  # bags of words are float16

    chunks = _without_padding(inputs) if _masks_padding(model) else [inputs]
    calls = [_as_graph(layer) for layer in model.layers]
    outputs, differences, shapes, first_maps = [], [], [], None
    for chunk in chunks:
        x, chunk_differences, chunk_shapes = chunk, [], []
        for layer, call, step in zip(model.layers, calls, steps):
            keras_output = keras.ops.convert_to_numpy(call(x))
            x = step(x)
            chunk_differences.append(_max_abs_difference(x, keras_output))
            chunk_shapes.append(x.shape[1:])
            if first_maps is None and type(layer).__name__ == "Conv2D":
                first_maps = x[0]
        outputs.append(x)
        differences.append(chunk_differences)
        shapes.append(chunk_shapes)
    layers = tuple(
        LayerExplanation(
            path=_layer_path(layer, index),
            name=layer.name,
            output_shape=_common_shape([chunk_shapes[index] for chunk_shapes in shapes]),
            max_abs_difference=max(chunk[index] for chunk in differences),
        )
        for index, layer in enumerate(model.layers)
    )
    predicted = model.predict(inputs, verbose=0)
    feature_maps = None
    if first_maps is not None:
        try:
            feature_maps = run.save_figure(feature_maps_figure(first_maps), "feature_maps")
        except OSError as error:
            # A run shared read-only (a course's folder): the recomputation was lost to a
            # traceback over the picture beside it.
            print(f"Warning: the feature maps can't be written to {run.path} "
                  f"({error.strerror or error}); the recomputation is not affected.",
                  file=sys.stderr, flush=True)
    return Explanation(
        run_dir=run.path,
        samples=len(inputs),
        layers=layers,
        max_abs_difference=_max_abs_difference(np.concatenate(outputs), predicted),
        feature_maps=feature_maps,
    )


def _as_graph(layer: keras.layers.Layer) -> Callable:
    """The layer as a TensorFlow graph, traced again only for a new input shape (and
    then for any length). Called eagerly, a recurrent layer runs its loop in Python, a
    step at a time: seconds for one real-length review. An unrolled one needs a fixed
    length, which a graph for any length hasn't: it stays eager."""
    import tensorflow as tf

    if layer.get_config().get("unroll"):
        return layer
    return tf.function(layer, reduce_retracing=True)


def _masks_padding(model: keras.Model) -> bool:
    first = model.layers[0]
    return type(first).__name__ == "Embedding" and bool(first.get_config().get("mask_zero"))


def _without_padding(inputs: np.ndarray) -> list[np.ndarray]:
    """Each sequence alone, with the padding around it cut off.

    An Embedding with mask_zero makes the recurrent layers skip padded steps, and with
    the padding in front (Keras's pad_sequences) or behind (TextVectorization), skipping
    them is the same as never having them; the reference, which has no masks, then
    computes exactly what Keras does.
    """
    chunks = []
    for index, row in enumerate(inputs):
        (words,) = np.nonzero(row)
        tokens = row[words[0]:words[-1] + 1] if len(words) else row[-1:]
        if len(words) and len(words) != len(tokens):
            raise UnsupportedLayer(
                f"test sequence {index} has padding (0) between its words: the NumPy "
                "reference can only skip padding around a sequence, so this model can't "
                "be explained."
            )
        chunks.append(tokens[np.newaxis])
    return chunks


def _common_shape(shapes: list[tuple[int, ...]]) -> tuple[int | None, ...]:
    """The per-example shape, with None where sequences of different lengths differ."""
    return tuple(sizes[0] if len(set(sizes)) == 1 else None for sizes in zip(*shapes))


def _max_abs_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours.astype("float64") - theirs.astype("float64"))))


# --------------------------------------------------------------------------- layers

Step = Callable[[np.ndarray], np.ndarray]

# Activations by the name Keras saves them under. Keras's `leaky_relu` activation
# function has slope 0.2, while its LeakyReLU layer defaults to 0.3.
ACTIVATIONS: dict[str, Step] = {
    "linear": reference.identity,
    "relu": reference.relu,
    "leaky_relu": partial(reference.leaky_relu, negative_slope=0.2),
    "tanh": reference.tanh,
    "sigmoid": reference.sigmoid,
    "softmax": reference.softmax,
}


def reference_layer(layer: keras.layers.Layer, index: int) -> Step:
    """The reference function computing `layer`, with its trained weights and settings bound."""
    class_name = type(layer).__name__
    if class_name not in REFERENCE_LAYERS:
        raise UnsupportedLayer(
            f"{_layer_path(layer, index)} ('{layer.name}'): the NumPy reference has no "
            f"{class_name} layer, so this model can't be explained. It implements "
            f"{', '.join(sorted(REFERENCE_LAYERS))}."
        )
    settings = layer.get_config()
    settings["path"] = _layer_path(layer, index)
    return REFERENCE_LAYERS[class_name](settings, layer.get_weights())


def _layer_path(layer: keras.layers.Layer, index: int) -> str:
    return format_path(["model", "layers", index, type(layer).__name__])


def _require(settings: dict[str, Any], **expected: Any) -> None:
    """Refuse settings the reference does not implement, rather than computing wrongly."""
    for key, value in expected.items():
        actual = settings.get(key, value)
        if actual != value:
            raise UnsupportedLayer(
                f"{settings['path']}: the NumPy reference implements this layer only with "
                f"{key}={value!r}, but it has {key}={actual!r}."
            )


def _activation(settings: dict[str, Any], key: str = "activation") -> Step:
    name = settings[key]
    if name not in ACTIVATIONS:
        raise UnsupportedLayer(
            f"{settings['path']}.{key}: the NumPy reference has no activation {name!r}; "
            f"it implements {', '.join(sorted(ACTIVATIONS))}."
        )
    return ACTIVATIONS[name]


def _kernel_and_bias(settings: dict[str, Any], weights: list[np.ndarray]) -> tuple:
    return tuple(weights) if settings["use_bias"] else (*weights, None)


def _conv2d(settings, weights) -> Step:
    _require(settings, data_format="channels_last", dilation_rate=(1, 1), groups=1)
    kernel, bias = _kernel_and_bias(settings, weights)
    return partial(
        reference.conv2d,
        kernel=kernel,
        bias=bias,
        strides=settings["strides"],
        padding=settings["padding"],
        activation=_activation(settings),
    )


def _pooling(function: Step) -> Callable[[dict, list], Step]:
    def build(settings, weights) -> Step:
        _require(settings, data_format="channels_last")
        return partial(
            function,
            pool_size=settings["pool_size"],
            strides=settings["strides"],
            padding=settings["padding"],
        )

    return build


def _dense(settings, weights) -> Step:
    kernel, bias = _kernel_and_bias(settings, weights)
    return partial(reference.dense, kernel=kernel, bias=bias, activation=_activation(settings))


def _flatten(settings, weights) -> Step:
    _require(settings, data_format="channels_last")
    return reference.flatten


def _embedding(settings, weights) -> Step:
    # With mask_zero, explain_run feeds each sequence without its padding (_without_padding).
    (table,) = weights
    return partial(reference.embedding, table=table)


def _naive_bayes_bag(settings, weights) -> Step:
    table, ratios = weights
    return partial(reference.naive_bayes_bag, weights=table, ratios=ratios)


def _recurrent(function: Step) -> Callable[[dict, list], Step]:
    def build(settings, weights) -> Step:
        _require(settings, go_backwards=False, stateful=False, return_state=False)
        kernel, recurrent_kernel, bias = _kernel_and_bias(settings, weights)
        arguments = dict(
            kernel=kernel,
            recurrent_kernel=recurrent_kernel,
            bias=bias,
            activation=_activation(settings),
            return_sequences=settings["return_sequences"],
        )
        if "recurrent_activation" in settings:  # LSTM and GRU
            arguments["recurrent_activation"] = _activation(settings, "recurrent_activation")
        if "reset_after" in settings:  # GRU
            arguments["reset_after"] = settings["reset_after"]
        return partial(function, **arguments)

    return build


def _activation_layer(settings, weights) -> Step:
    return _activation(settings)


def _leaky_relu_layer(settings, weights) -> Step:
    return partial(reference.leaky_relu, negative_slope=settings["negative_slope"])


def _dropout(settings, weights) -> Step:
    # Dropout only acts while training; at prediction time it passes its input through.
    return reference.identity


REFERENCE_LAYERS: dict[str, Callable[[dict[str, Any], list[np.ndarray]], Step]] = {
    "Conv2D": _conv2d,
    "MaxPooling2D": _pooling(reference.max_pooling2d),
    "AveragePooling2D": _pooling(reference.average_pooling2d),
    "Dense": _dense,
    "Flatten": _flatten,
    "Embedding": _embedding,
    "NaiveBayesBag": _naive_bayes_bag,
    "SimpleRNN": _recurrent(reference.simple_rnn),
    "LSTM": _recurrent(reference.lstm),
    "GRU": _recurrent(reference.gru),
    "Activation": _activation_layer,
    "LeakyReLU": _leaky_relu_layer,
    "Dropout": _dropout,
}
