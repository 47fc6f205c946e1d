"""Config -> compiled Keras model, after checking that the model fits the data.

A layer's name is looked up in `keras.layers` and its arguments are passed as they are,
so a config speaks Keras's own vocabulary. Mistakes Keras finds while building are
reported with the layer's path in the config rather than as a stack trace.
"""

from __future__ import annotations

import contextlib
import os
import re

import keras
import numpy as np

import dlcourse.layers
from dlcourse.config import Config, LayerSpec, LearningRateSchedule, format_path
from dlcourse.config.sections import BINARY_LOSSES, binary_on_classes
from dlcourse.config.vocabulary import WRAPPER_ARGUMENTS
from dlcourse.data import DataSignature, classes_text
from dlcourse.errors import ModelDataMismatch, one_line
from dlcourse.execution import EXACT, ExecutionPlan
from dlcourse.model_checks import check_embedding_fits, check_last_layer_fits


def build_model(
    config: Config, data: DataSignature, plan: ExecutionPlan = EXACT
) -> keras.Model:
    """Build and compile the Sequential model of `config` for inputs described by `data`.

    With `plan.bucketing` the model takes sequences of any length and its Embedding masks
    the padding, so that batches cut to different lengths all give full-length results.
    """
    with names_counted_afresh():
        check_embedding_fits(config, data)
        _check_size(config, data)
        model = _stacked(config, data, plan)
        _check_output_fits(config, data, model)
        _compile(model, config, plan.jit_compile)
    return model


def _stacked(config: Config, data: DataSignature, plan: ExecutionPlan = EXACT) -> keras.Model:
    model = keras.Sequential(name=config.name)
    input_shape = (None,) if plan.bucketing else data.input_shape
    model.add(keras.Input(shape=input_shape, dtype=data.dtype))
    for index, spec in enumerate(config.model.layers):
        path = format_path(["model", "layers", index, spec.name])
        if plan.bucketing and index == 0:
            spec = spec.model_copy(update={"args": {**spec.args, "mask_zero": True}})
        layer = instantiate_layer(spec, path)
        _check_name_is_free(model, layer, path, config)
        try:
            model.add(layer)
        except (ValueError, TypeError) as error:
            raise ModelDataMismatch(
                f"{path} can't take its input: {first_sentence(error)} "
                f"({data.describe_input()}.)"
            ) from None
        except KERAS_BUILD_ERRORS as error:  # an argument Keras finds wrong only here
            raise ModelDataMismatch(f"{path}: Keras can't build this layer with its "
                                    f"arguments: {first_sentence(error)}") from None
    return model


def _check_name_is_free(model: keras.Model, layer: keras.layers.Layer, path: str,
                        config: Config) -> None:
    """Two layers named alike, one by Keras (`dense`, its name for a model's first unnamed
    Dense): validate can't see it, and Keras's refusal read as a shape problem."""
    for index, earlier in enumerate(model.layers):
        if earlier.name == layer.name:
            other = format_path(["model", "layers", index, config.model.layers[index].name])
            raise ModelDataMismatch(
                f"{path} and {other} are both named {layer.name!r} (Keras names a layer "
                f"without a `name` itself); give one of them another `name`."
            )


# The most weights a model may have: 100 million float32s are 400 MB, and training keeps
# two or three more copies (gradients, the optimizer's slots). The lecture's are 0.3 M.
LARGEST_PARAMETERS = 100_000_000


def _check_size(config: Config, data: DataSignature) -> None:
    """Refuse a model too large for memory before a single weight is allocated.

    Keras creates the variables of a model built in a StatelessScope without
    initialising them, so their shapes can be counted for free; the uncounted variables
    are then dropped from Keras's list of ones to initialise later.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # another Keras layout: build without the estimate
        return
    waiting = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False), names_counted_afresh():
            model = _stacked(config, data)
            sizes = [
                (sum(int(np.prod(weight.shape)) for weight in layer.weights), index, layer)
                for index, layer in enumerate(model.layers)
            ]
    except ModelDataMismatch:
        return  # the real build reports it, with its path
    finally:
        global_state.set_global_attribute("uninitialized_variables", waiting)
    total = sum(size for size, _, _ in sizes)
    if total > LARGEST_PARAMETERS:
        size, index, _ = max(sizes, key=lambda item: item[0])
        path = format_path(["model", "layers", index, config.model.layers[index].name])
        raise ModelDataMismatch(
            f"The model would have {total:,} weights, more than the {LARGEST_PARAMETERS:,} "
            f"that fit in memory for training; the largest layer is {path} with {size:,} "
            f"({data.describe_input()}). Make it smaller."
        )


# What Keras raises as it builds a layer whose arguments it finds wrong only then, besides
# ValueError and TypeError: pooling strides of 0 (ZeroDivisionError), an axis past the
# input's (IndexError), an unknown fill_mode (NotImplementedError). They were tracebacks.
KERAS_BUILD_ERRORS = (ArithmeticError, IndexError, KeyError, NotImplementedError, AttributeError)


def instantiate_layer(spec: LayerSpec, path: str) -> keras.layers.Layer:
    """A Keras layer from its spec; wrapped layers are built first."""
    args = {
        key: instantiate_layer(value, f"{path}.{key}.{value.name}")
        if key in WRAPPER_ARGUMENTS and value is not None
        else _keras_object(key, value, f"{path}.{key}")
        for key, value in spec.args.items()
    }
    layer_class = dlcourse.layers.OWN_LAYERS.get(spec.name) or getattr(keras.layers, spec.name)
    try:
        return layer_class(**args)
    # AttributeError: Embedding(weights=0.5) asks a number for its shape.
    except (ValueError, TypeError, *KERAS_BUILD_ERRORS) as error:
        raise ModelDataMismatch(f"{path}: {first_sentence(error)}") from None


# Arguments that name a Keras object by {ClassName: {argument: value}}, and where it lives.
_OBJECT_MODULES = (("_regularizer", "regularizers"), ("_constraint", "constraints"),
                   ("_initializer", "initializers"))


def _keras_object(key: str, value, path: str):
    """`kernel_regularizer: {L2: {l2: 1e-4}}` -> keras.regularizers.L2(l2=1e-4); other values
    as they are (Keras resolves names such as 'he_normal' itself). A value only Keras can
    judge ({L2: {l2: -1}}) is said at `path`; it was a traceback."""
    if not isinstance(value, dict):
        return value
    for suffix, module in _OBJECT_MODULES:
        if key.endswith(suffix):
            ((name, arguments),) = value.items()
            try:
                return getattr(getattr(keras, module), name)(**arguments)
            except (ValueError, TypeError) as error:
                raise ModelDataMismatch(f"{path}.{name}: {first_sentence(error)}") from None
    return value


def _compile(model: keras.Model, config: Config, jit_compile: bool | None) -> None:
    compile_config = config.compile
    arguments = compile_config.optimizer.keras_arguments()
    schedule = compile_config.optimizer.learning_rate
    if isinstance(schedule, LearningRateSchedule):
        arguments["learning_rate"] = _schedule(schedule)
    try:
        optimizer = keras.optimizers.get(
            {"class_name": compile_config.optimizer.name, "config": arguments}
        )
    except (ValueError, TypeError) as error:
        raise ModelDataMismatch(f"compile.optimizer: {first_sentence(error)}") from None
    try:
        model.compile(
            optimizer=optimizer,
            loss=compile_config.loss,
            metrics=list(compile_config.metrics),
            jit_compile="auto" if jit_compile is None else jit_compile,
        )
    except (ValueError, TypeError) as error:
        raise ModelDataMismatch(f"compile: {first_sentence(error)}") from None


def _schedule(spec: LearningRateSchedule) -> keras.optimizers.schedules.LearningRateSchedule:
    """A `keras.optimizers.schedules` object from its name and Keras's own arguments."""
    try:
        return getattr(keras.optimizers.schedules, spec.schedule)(**spec.keras_arguments())
    except (ValueError, TypeError) as error:
        raise ModelDataMismatch(
            f"compile.optimizer.learning_rate.{spec.schedule}: {first_sentence(error)}"
        ) from None


def _check_output_fits(config: Config, data: DataSignature, model: keras.Model) -> None:
    if config.compile.loss in BINARY_LOSSES and data.num_classes != 2:
        # Named, since a label of the test split alone adds a class (it is warned of above).
        classes = classes_text(data.class_names, data.num_classes)
        raise ModelDataMismatch(
            f"compile.loss: {binary_on_classes(config.compile.loss, data.name, classes)}.")
    check_last_layer_fits(config, data, model.output_shape[-1])


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def embedding_rows(model: keras.Model) -> int | None:
    """How many word indices the model's first Embedding has rows for; None without one."""
    rows = [layer.input_dim for layer in model.layers if isinstance(layer, keras.layers.Embedding)]
    return rows[0] if rows else None


def first_sentence(error: Exception) -> str:
    """Keras's or TensorFlow's reason, without its terminal colours, its 'Exception
    encountered when calling' preamble, its dump of the call's arguments and its op's
    names."""
    text = one_line(_ANSI.sub("", str(error)))
    text = re.sub(r"^Exception encountered when calling [\w.]+\(\)\. ", "", text)
    text = re.sub(r"^Input \d+ with name '[^']*' of layer '[^']*' is incompatible with the "
                  r"layer: ", "", text)  # it names Keras's own names, not the config's
    text = text.split(" Arguments received by ", 1)[0]
    # TensorFlow's op errors: the node's name before the reason, the op's after it.
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:\w+\]( name:.*)?$", "", text)
    text = re.sub(r" for '\{\{node [^']*'", "", text)  # a traced graph's node, and its op
    return one_line(text, 400)


@contextlib.contextmanager
def keras_refusals_named(config: Config, model: keras.Model, doing: str):
    """Keras's or TensorFlow's refusal of the model while it computes (`doing`: "in
    training", "on its data") as one paragraph naming the layer, where the config's values can't work
    together and only running says so (a Dropout noise_shape that isn't the input's, a
    GaussianDropout rate of 1, a Softmax axis the output lacks): each was a traceback.
    Only errors raised inside Keras or TensorFlow: dlcourse's own are its bugs."""
    import tensorflow as tf

    try:
        yield
    except (ValueError, TypeError, ArithmeticError, IndexError,
            tf.errors.InvalidArgumentError) as error:
        if not _raised_inside_keras(error):
            raise
        raise ModelDataMismatch(f"{_layer_path(config, model, str(error))}the model can't run "
                                f"{doing}: {first_sentence(error)}") from None


def _raised_inside_keras(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    where = traceback.tb_frame.f_code.co_filename if traceback else ""
    return any(f"{os.sep}{package}{os.sep}" in where for package in ("keras", "tensorflow"))


def _layer_path(config: Config, model: keras.Model, message: str) -> str:
    """'model.layers[1].Dropout: ' for the first of the model's layers the message names
    (by Keras's name, dropout, dense_1), or nothing."""
    called = re.search(r"Exception encountered when calling (\w+)\.call\(\)", message)
    tests = (
        lambda layer: re.search(rf"(?<![\w/]){re.escape(layer.name)}(?![\w])", message),
        # A traced graph's scopes may number a name again: dropout as .../dropout_1/...
        lambda layer: re.search(rf"/{re.escape(layer.name)}(_\d+)?/", message),
        # "when calling GaussianDropout.call()": its class.
        lambda layer: called and type(layer).__name__ == called.group(1),
    )
    for named in tests:
        for index, (layer, spec) in enumerate(zip(model.layers, config.model.layers)):
            if named(layer):
                return format_path(["model", "layers", index, spec.name]) + ": "
    return ""


@contextlib.contextmanager
def names_counted_afresh():
    """Keras's layer names (dense, dense_1, ...) counted from none, as in a fresh process,
    and the process's count put back after. Keras numbers them per process, so a
    notebook's second identical run was conv2d_2 ... dense_3 in its summary and model
    file, and a check's trial build used up the names of the model built after it."""
    from keras.src.backend.common import global_state

    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", None)  # Keras makes a new count
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


def summary_text(model: keras.Model) -> str:
    """Keras's summary of `model`, as text."""
    lines: list[str] = []
    with _rich_outside_jupyter():
        model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=80)
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _rich_outside_jupyter():
    """Keras renders the summary with a rich Console that captures it; in Jupyter that
    Console also displays its emptied buffer when the capture ends, and every train in a
    notebook left an empty output block. The capture is text alone, so rich is told it is
    not in Jupyter while Keras renders."""
    import rich.console

    detect = getattr(rich.console, "_is_jupyter", None)
    if detect is None:  # another rich: its own way, at worst the empty block
        yield
        return
    rich.console._is_jupyter = lambda: False
    try:
        yield
    finally:
        rich.console._is_jupyter = detect
