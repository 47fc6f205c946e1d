"""One way from a config to a model ready to fit: the data, its signature, the execution
plan and the built model. `train`, `--resume`, `summary` and every tuning trial take it.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlcourse.config import Config
from dlcourse.data import (
    DataSignature,
    Dataset,
    classes_text,
    load_dataset,
    output_widths,
    shape_text,
    signature_of,
)
from dlcourse.data.loading import MEMORY_KIND, one_hot_if_needed
from dlcourse.data.memory import (
    FAR_ABOVE_ONE, SOURCE as MEMORY_SOURCE, dataset_from_memory, test_split_from_memory,
)
from dlcourse.execution import ExecutionPlan, plan_execution, validation_cut
from dlcourse.models import (
    build_model,
    embedding_rows,
    keras_refusals_named,
    first_sentence,
    summary_text,
)
from dlcourse.model_checks import output_width
from dlcourse.errors import DataError, ModelDataMismatch, RunError
from dlcourse.layers import fit_data_statistics
from dlcourse.preflight import python_data_refused
from dlcourse.rundir import RunDir


@dataclass(frozen=True)
class Prepared:
    config: Config
    dataset: Dataset
    signature: DataSignature
    plan: ExecutionPlan
    model: keras.Model

    def build_again(self) -> keras.Model:
        """A fresh model of the same config, for a copy outside a distribution strategy."""
        return build_model(self.config, self.signature, self.plan)

    def summary(self) -> str:
        """The model's summary with the shapes of the lecture's slides. A bucketed model
        takes sequences of any length, so its own summary says (None, None, 32) where the
        slide has (None, 500, 32); the same layers at the data's length say it as it is."""
        if not self.plan.bucketing:
            return summary_text(self.model)
        return model_summary(self.config, self.signature, self.plan)


def model_summary(config: Config, signature: DataSignature, plan: ExecutionPlan) -> str:
    return summary_text(build_model(config, signature, replace(plan, bucketing=False)))


def prepare(
    config: Config,
    data_dir: str | Path | None = None,
    *,
    dataset: Dataset | None = None,
    scope=None,
) -> Prepared:
    """Load the data (or take `dataset`), plan the execution and build the model, inside
    `scope` (a distribution strategy's)."""
    if dataset is None:
        dataset = load_dataset(config.data, data_dir, task=config.task)
    signature = signature_of(dataset, config)
    plan = plan_execution(config, train_samples=len(dataset.x_train))
    with scope or contextlib.nullcontext():
        model = model_for(config, dataset, signature, plan)
    check_metrics(config, dataset, model)
    check_model_runs(config, dataset, model)
    return Prepared(config, dataset, signature, plan, model)


# Steps of a free-length sequence the dry run gives: a recurrent layer runs them eagerly.
DRY_RUN_STEPS = 16


def check_model_runs(config: Config, dataset: Dataset, model: keras.Model) -> None:
    """The model gives an output for two examples, as evaluate and predict call it, before
    training: a RandomCrop larger than the images built, trained a whole epoch, and was a
    traceback in the evaluation (its inference output wasn't what the next layer took)."""
    x = dataset.x_train[:2]
    if x.ndim == 2 and model.input_shape[1] is None:
        x = x[:, -DRY_RUN_STEPS:]  # length-bucketed: any length is one it takes
    elif any(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
             for layer in model.layers):
        return  # 500 steps run eagerly cost seconds; its shapes were checked as it was built
    with keras_refusals_named(config, model, "on its data"):
        model(x, training=False)


def check_metrics(config: Config, dataset: Dataset, model: keras.Model) -> None:
    """Each of compile.metrics scores the model's outputs against its labels, as fit will
    call it, tried on two examples before training. One made for other labels
    (SparseCategoricalAccuracy beside one-hot targets, binary_crossentropy beside IMDB's
    one output) was a traceback once the first epoch had compiled, and F1Score's score per
    class stopped the run at that epoch's end."""
    from keras.src.trainers.compile_utils import get_metric  # how compile() resolves names

    y = one_hot_if_needed(np.asarray(dataset.y_train[:2]), dataset.num_classes,
                          config.compile.loss)
    outputs = np.full((len(y), model.output_shape[-1]), 0.5, "float32")  # probabilities
    shapes = f"outputs of shape {shape_text(outputs.shape[1:], batch=True)} against labels " \
             f"of shape {shape_text(y.shape[1:], batch=True)}"
    for index, name in enumerate(config.compile.metrics):
        try:
            metric = get_metric(name, y, outputs)
            metric.update_state(y, outputs, sample_weight=None)
            scores = np.asarray(metric.result())
        except Exception as error:  # Keras's and TensorFlow's own, whichever the metric hits
            raise ModelDataMismatch(
                f"compile.metrics[{index}]: {name} can't score {shapes} "
                f"({first_sentence(error)}); with loss {config.compile.loss}, use a metric "
                "for those labels, such as accuracy."
            ) from None
        if scores.size != 1:
            raise ModelDataMismatch(
                f"compile.metrics[{index}]: {name} gives {scores.size} scores, one per class, "
                "where a run records one an epoch; use accuracy, Precision, Recall or AUC."
            )


def model_for(config: Config, dataset: Dataset, signature: DataSignature,
              plan: ExecutionPlan) -> keras.Model:
    """The built model, with what its layers learn from the training data before fitting."""
    model = build_model(config, signature, plan)
    fit_data_statistics(model, *fitted_rows(config, dataset))
    return model


def fitted_rows(config: Config, dataset: Dataset):
    """The training rows the fit learns from: without the validation split Keras holds
    out, so that statistics of the data (NaiveBayesBag's ratios) never see it."""
    x, y = dataset.x_train, dataset.y_train
    if config.fit.validation_split is not None:
        cut = validation_cut(len(x), config.fit.validation_split)
        x, y = x[:cut], y[:cut]
    return x, y


def run_dataset(run: RunDir, config: Config, data_dir: str | Path | None, *,
                memory: tuple[Any, Any] | None = None, command: str = "evaluate") -> Dataset:
    """A run's data prepared as in training: raw text with the run's saved vocabulary.
    `memory` is (train, test) given from Python again, for a run trained on such data.
    Only `resume` trains: for the others raw text's test split alone is read (as both)."""
    vocabulary = run.read_vocabulary(config.data.vectorize) if config.data.dataset == "raw_text" else None
    if memory is not None:
        known = dict(class_names=run.read_classes(), vocabulary=vocabulary,
                     regression=config.task == "regression")
        train, test = memory
        if train is None:
            dataset = test_split_from_memory(config.data, test, **known)
        else:
            dataset = dataset_from_memory(config.data, train, test, **known)
            _check_same_training_arrays(run, dataset)
        if dataset.input_kind == "images":
            _check_learned_scale(run, dataset)
        return dataset
    if run.read_data_record().get("kind") == MEMORY_KIND:
        raise python_data_refused(run, command)
    return _with_the_runs_classes(run, config, data_dir, vocabulary,
                                  test_only=command != "resume")


def _check_same_training_arrays(run: RunDir, dataset: Dataset) -> None:
    """A run resumed from Python goes on with the arrays it started with: other ones were
    learned from as well, without a word (data.json held only their lengths)."""
    recorded = run.read_data_record().get("train_digest")
    if recorded is not None and recorded != training_digest(dataset):
        raise DataError(f"train=(x, y): these are not the arrays {run.path} was trained on so "
                        "far, so the run would learn from both. Give the same arrays, or "
                        "train a new run on these.")


def training_digest(dataset: Dataset) -> str:
    """A hash of the training arrays, as prepared (their dtype and shape included)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (dataset.x_train, dataset.y_train):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _check_learned_scale(run: RunDir, dataset: Dataset) -> None:
    """Images from Python on the scale the model learned, by the rule training holds two
    splits to: float 0-255 pixels for a model of 0-1 ones were evaluated without a word
    (test loss 2.2 for 0.41), where predict warns."""
    learned = run.learned_largest_pixel()
    if learned is None or not dataset.x_test.size:
        return  # a run from before the record: nothing to hold the pixels to
    largest, lowest = float(dataset.x_test.max()), float(dataset.x_test.min())
    if learned <= 1.0 and largest > FAR_ABOVE_ONE:
        raise DataError(f"test=(x, y): the pixels go up to {largest:g}, but {run.path}'s model "
                        "learned pixels scaled to 0-1: scale them as its training images were "
                        "(pixels of 0-255 divided by 255), or give integer pixels (uint8 "
                        "0-255), which are scaled for you.")
    if learned > FAR_ABOVE_ONE and 0 <= lowest and 0 < largest <= 1.0:
        raise DataError(f"test=(x, y): the pixels lie within 0 to 1 (integer pixels are "
                        f"scaled by 1/255), but {run.path}'s model learned pixels up to "
                        f"{learned:g}, as they came: give them on its scale, as floats.")


# A --data-dir may hold other data than the run trained on (an mnist.npz of CIFAR's
# shape); a model.keras may come from another run.
_OTHER_DATA_OR_MODEL = ("either it is other data than the run trained on, or the run "
                        "directory is damaged (a model from another run).")


def check_model_takes(run: RunDir, config: Config, model: keras.Model, dataset: Dataset) -> None:
    """The run's model takes its test inputs and gives one output per class: a model.keras
    copied from another run gave TensorFlow's traceback in the middle of evaluating."""
    shape, given = tuple(model.input_shape[1:]), tuple(dataset.x_test.shape[1:])
    if len(shape) != len(given) or any(want not in (None, got) for want, got in zip(shape, given)):
        if dataset.source == MEMORY_SOURCE:  # the arrays are what is wrong, not the run
            raise DataError(f"test=(x, y): x is {dataset.x_test.shape}, but {run.path}'s model "
                            f"takes {shape_text(shape, batch=True)}: give arrays shaped as its "
                            "training data.")
        raise RunError(
            f"{run.model_path}: takes inputs of shape {shape_text(shape)}, but {dataset.source} "
            f"has {shape_text(given)}: {_OTHER_DATA_OR_MODEL}"
        )
    _check_indices_fit(run, model, dataset)
    outputs = model.output_shape[-1]
    regression = config.task == "regression"
    if output_width(config, dataset.num_classes) is None:
        return  # a loss whose outputs training doesn't tie to the classes (circle)
    if outputs not in output_widths(None if regression else dataset.num_classes):
        what = ("a number to predict" if regression
                else classes_text(dataset.class_names or (), dataset.num_classes))
        raise RunError(
            f"{run.model_path}: has {outputs} output(s), but {dataset.source} has {what}: "
            f"{_OTHER_DATA_OR_MODEL}"
        )


def _check_indices_fit(run: RunDir, model: keras.Model, dataset: Dataset) -> None:
    """No word index past the rows of the model's Embedding: a data.num_words or a
    vocabulary.json changed in the run gave TensorFlow's traceback from its lookup."""
    rows, x = embedding_rows(model), dataset.x_test
    if rows is None or not np.issubdtype(x.dtype, np.integer) or not x.size:
        return
    if (largest := int(x.max())) < rows:
        return
    if dataset.source == MEMORY_SOURCE:
        raise DataError(f"test=(x, y): x holds the word index {largest:,}, but {run.path}'s "
                        f"model has Embedding rows for indices below {rows:,}.")
    raise RunError(
        f"{run.path}: its data ({dataset.source}) gives word indices up to {largest:,}, but "
        f"the model's Embedding has rows for indices below {rows:,}; was data.num_words, "
        "data.vectorize or vocabulary.json changed in the run directory?"
    )


def _with_the_runs_classes(run: RunDir, config: Config, data_dir, vocabulary, *,
                           test_only: bool) -> Dataset:
    """The data, its labels numbered as the run's classes.json numbers them: other data
    (--data-dir) must not renumber them, or every prediction is scored against another
    class. Raw text takes the run's classes as its class names (a label outside them is
    refused); any other data must come with the same classes."""
    classes = run.read_classes()
    data = config.data
    if classes and data.dataset == "raw_text":
        data = data.model_copy(update={"class_names": list(classes)})
    dataset = load_dataset(data, data_dir, vocabulary=vocabulary, task=config.task,
                           test_only=test_only)
    if classes and tuple(dataset.class_names) != tuple(classes):
        raise DataError(
            f"{dataset.source}: its classes {list(dataset.class_names)} are not those "
            f"{run.path} was trained on, {list(classes)}, so its predictions would be scored "
            "against other labels. Give --data-dir data with the run's classes."
        )
    return dataset


def memory_record(dataset: Dataset) -> dict[str, Any]:
    """data.json for a run on data given from Python: no file to find again. For images,
    the largest pixel the model learned from: predict warns of inputs far outside it."""
    record = {"kind": MEMORY_KIND, "data_dir": None, "source": None,
              "train_samples": len(dataset.x_train), "test_samples": len(dataset.x_test),
              "train_digest": training_digest(dataset)}
    if dataset.input_kind == "images" and dataset.x_train.size:
        record["largest_pixel"] = float(dataset.x_train.max())
        # Whether the images are light on dark, as MNIST's are: predict then reads a
        # picture as MNIST's digits were made (inverted from paper, cut out, centred).
        x = dataset.x_train[:1000]
        border = np.concatenate([x[:, 0].ravel(), x[:, -1].ravel(), x[:, :, 0].ravel(),
                                 x[:, :, -1].ravel()])
        record["dark_background"] = bool(np.median(border) < 0.5 * record["largest_pixel"])
    return record
