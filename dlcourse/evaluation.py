"""Evaluation: a trained model on the test split, as metrics and as detail people can read.

`evaluate_model` measures; `evaluate_run` rebuilds the test split exactly as the run's
saved config describes it, so a run's test accuracy can be reproduced from its directory
alone, and `write_evaluation_files` leaves the detail in the run for people to read.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import keras
import numpy as np

from dlcourse import reports
from dlcourse.config import Config
from dlcourse.data import Dataset, one_hot_if_needed
from dlcourse.data.imdb import decode_reviews
from dlcourse.errors import RunError
from dlcourse.execution import EXACT, ExecutionPlan, length_groups
from dlcourse.preflight import recorded_data_dir
from dlcourse.preparation import check_model_takes, run_dataset
from dlcourse.rundir import RunDir

MOST_CONFIDENTLY_WRONG = 12
# Keras copies the arrays handed to predict into one tensor: the whole test split again
# (30 MB for MNIST), on top of the memory training left. A slice at a time keeps the copy small.
PREDICT_SLICE_SAMPLES = 4096
# Length groups are predicted a batch of this many at a time, or the run's batch size if
# larger: the SimpleRNN's 25,000 test reviews took 2.2-2.3 s in batches of 512, 2.5 s of
# 1,024, 2.9 s of 128 and 3.5 s of 4,096 on 2 CPU cores.
GROUPED_PREDICT_BATCH = 512


@dataclass(frozen=True)
class Evaluation:
    """Test-split results: Keras's metrics, per-class figures, and the worst mistakes.

    For regression there are no classes: no confusion matrix or per-class figures, and the
    worst mistakes are the largest absolute errors.
    """

    metrics: dict[str, float]
    confusion_matrix: list[list[int]] | None
    per_class: list[dict[str, float]] | None
    # Test-set indices of the most confidently wrong predictions (or largest errors),
    # with what was predicted.
    wrong: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_regression(self) -> bool:
        return self.per_class is None

    def detail(self) -> dict[str, Any]:
        """What metrics.json and evaluation.json record beside the metrics."""
        if self.is_regression:
            return {}
        if self.confusion_matrix is None:  # too many classes to keep one
            return {"per_class": self.per_class}
        return {"per_class": self.per_class, "confusion_matrix": self.confusion_matrix}


@dataclass(frozen=True)
class EvaluationResult(Mapping):
    """A run evaluated again: its test metrics (the result reads as that dict), the
    per-class detail, and in a notebook a table of them."""

    run_dir: Path
    evaluation: Evaluation
    # The run's config's name: its folder's parent is not, for a run copied elsewhere.
    name: str = ""

    @property
    def metrics(self) -> dict[str, float]:
        return self.evaluation.metrics

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]

    def __iter__(self):
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def _repr_html_(self) -> str:
        return reports.result_html(f"{self.name or self.run_dir.parent.name}, evaluated again",
                                   str(self.run_dir), self.metrics, {})

    def __repr__(self) -> str:
        return reports.result_repr("EvaluationResult", self.name or self.run_dir.parent.name,
                                   str(self.run_dir), reports.figures_text(self, list(self)))


def evaluate_model(model: keras.Model, config: Config, dataset: Dataset,
                   plan: ExecutionPlan = EXACT) -> Evaluation:
    """Keras's metrics on the test split (`test_loss`, `test_accuracy`, ...) plus detail.
    `plan` is how the run trained: a bucketed one predicts bucketed too."""
    targets = one_hot_if_needed(dataset.y_test, dataset.num_classes, config.compile.loss)
    probabilities = predict_test_split(model, dataset.x_test, config.fit.batch_size, plan)
    results = compiled_metrics(model, targets, probabilities)
    scores = None if config.task == "regression" else class_scores(probabilities)
    if scores is not None and _saturated(config.compile.loss, dataset.y_test, scores):
        results["loss"] = float(model.evaluate(dataset.x_test, targets, verbose=0,
                                               batch_size=config.fit.batch_size,
                                               return_dict=True)["loss"])
    metrics = {f"test_{name}": value for name, value in results.items()}
    if scores is None:
        return Evaluation(metrics, None, None, largest_errors(dataset.y_test, probabilities))
    predicted = scores.argmax(axis=1)
    if dataset.num_classes > MOST_CONFUSION_CLASSES:
        # 3,000 classes' matrix made metrics.json 81 MB, more than a run file is read at,
        # so runs and compare listed the run as damaged; 10,000 took 11 GB and 901 MB.
        return Evaluation(metrics, None,
                          per_class_counted(dataset.y_test, predicted, dataset.num_classes,
                                            dataset.class_names),
                          most_confidently_wrong(dataset.y_test, scores))
    confusion = confusion_matrix(dataset.y_test, predicted, dataset.num_classes)
    return Evaluation(
        metrics=metrics,
        confusion_matrix=confusion.tolist(),
        per_class=per_class_scores(confusion, dataset.class_names),
        wrong=most_confidently_wrong(dataset.y_test, scores),
    )


def predict_test_split(model: keras.Model, x: np.ndarray, batch_size: int,
                       plan: ExecutionPlan) -> np.ndarray:
    """The model's predictions for `x`, cut to length groups where the run was bucketed.

    Padded to `data.maxlen`, IMDB's test split costs a recurrent model the padding that
    bucketing skipped in training: with the GRU, 25,000 reviews took 7-12 s padded and
    4-4.5 s bucketed, the same predictions. The groups are predicted without XLA, whose
    compiling (or loading from its cache) each group's shape costs more than it saves,
    in batches of at least GROUPED_PREDICT_BATCH.
    """
    if not plan.bucketing or not len(x):
        return predict_in_slices(model, x, batch_size)
    batch_size = max(batch_size, GROUPED_PREDICT_BATCH)
    predictions = None
    with _without_xla(model):
        for length, rows in length_groups(x, plan.bucket_width):
            part = predict_in_slices(model, x[rows, -length:], batch_size)
            if predictions is None:
                predictions = np.empty((len(x), *part.shape[1:]), part.dtype)
            predictions[rows] = part
    return predictions


@contextmanager
def _without_xla(model: keras.Model) -> Iterator[None]:
    """`model.predict` without XLA for a while; Keras builds its predict function again
    when it is dropped, so later calls compile as the model says."""
    jit_compile = model.jit_compile
    model.jit_compile, model.predict_function = False, None
    try:
        yield
    finally:
        model.jit_compile, model.predict_function = jit_compile, None


def predict_in_slices(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """`model.predict(x)`, a few thousand samples at a time. The slices hold whole batches,
    so every batch, and so every prediction, is the one a single call would make."""
    step = batch_size * max(1, PREDICT_SLICE_SAMPLES // batch_size)
    if len(x) <= step:
        return model.predict(x, batch_size=batch_size, verbose=0)
    return np.concatenate([
        model.predict(x[start:start + step], batch_size=batch_size, verbose=0)
        for start in range(0, len(x), step)
    ])


def compiled_metrics(
    model: keras.Model, targets: np.ndarray, predictions: np.ndarray
) -> dict[str, float]:
    """What `model.evaluate` returns (the compiled loss and metrics), computed from
    predictions already made: one pass over the test split instead of two."""
    model.reset_metrics()
    loss = model.compute_loss(y=targets, y_pred=predictions, training=False)
    results = model.compute_metrics(None, targets, predictions)
    results["loss"] = loss
    return {name: float(value) for name, value in results.items()}


_CROSS_ENTROPIES = ("categorical_crossentropy", "sparse_categorical_crossentropy",
                    "binary_crossentropy")


def _saturated(loss: str, labels: np.ndarray, scores: np.ndarray) -> bool:
    """Whether a true class's probability is below Keras's clip (1e-7). Keras takes a
    softmax's or sigmoid's cross-entropy from its logits; from the probabilities, clipped,
    a confidently wrong prediction costs at most 16.1, and test_loss said 11.8 where
    val_loss said 64.9 on the same data (unscaled inputs, a diverging run). Rare: then the
    loss is Keras's own evaluate's, a second pass over the test split."""
    if loss not in _CROSS_ENTROPIES:
        return False
    return bool((scores[np.arange(len(scores)), labels] < keras.config.epsilon()).any())


def class_scores(probabilities: np.ndarray) -> np.ndarray:
    """One column per class; a single sigmoid output p becomes the two columns (1-p, p)."""
    probabilities = np.asarray(probabilities, dtype="float64")
    if probabilities.shape[1] == 1:
        return np.hstack([1.0 - probabilities, probabilities])
    return probabilities


# Classes beyond which no confusion matrix is kept or drawn (a drawing of 200 is already
# a texture): per-class figures stay, one row a class.
MOST_CONFUSION_CLASSES = 200


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    matrix = np.zeros((num_classes, num_classes), dtype="int64")
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def per_class_scores(confusion: np.ndarray,
                     names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class (0 where a class was never predicted),
    with its name where the data names its classes: metrics.json gave only the index."""
    return _scores(np.diag(confusion).astype("float64"), confusion.sum(axis=0),
                   confusion.sum(axis=1), names)


def per_class_counted(truth: np.ndarray, predicted: np.ndarray, num_classes: int,
                      names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """per_class_scores without the confusion matrix, for classes too many to keep one."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    correct = np.bincount(truth[truth == predicted], minlength=num_classes).astype("float64")
    return _scores(correct, np.bincount(predicted, minlength=num_classes),
                   np.bincount(truth, minlength=num_classes), names)


def _scores(correct: np.ndarray, predicted: np.ndarray, actual: np.ndarray,
            names: Sequence[str]) -> list[dict[str, Any]]:
    precision = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
    recall = np.divide(correct, actual, out=np.zeros_like(correct), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(correct), where=total > 0)
    return [
        {
            "class": index,
            **({"name": names[index]} if index < len(names) else {}),
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "support": int(actual[index]),
        }
        for index in range(len(correct))
    ]


def most_confidently_wrong(
    truth: np.ndarray, scores: np.ndarray, count: int = MOST_CONFIDENTLY_WRONG
) -> list[dict[str, Any]]:
    predicted = scores.argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    confidence = scores[wrong, predicted[wrong]]
    worst = wrong[np.argsort(-confidence, kind="stable")[:count]]
    return [
        {
            "index": int(index),
            "true": int(truth[index]),
            "predicted": int(predicted[index]),
            "confidence": float(scores[index, predicted[index]]),
        }
        for index in worst
    ]


def largest_errors(
    truth: np.ndarray, predicted: np.ndarray, count: int = MOST_CONFIDENTLY_WRONG
) -> list[dict[str, Any]]:
    """The test examples a regression model missed by most, largest error first."""
    predicted = np.asarray(predicted, dtype="float64").reshape(len(truth), -1)[:, 0]
    errors = np.abs(predicted - truth)
    worst = np.argsort(-errors, kind="stable")[:count]
    return [
        {
            "index": int(index),
            "true": float(truth[index]),
            "predicted": float(predicted[index]),
            "error": float(errors[index]),
        }
        for index in worst
    ]


def evaluate_run(
    run_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    test: Any = None,
) -> EvaluationResult:
    """Reload a run's model and config, evaluate on the test split, write evaluation.json.
    `test` is (x_test, y_test) given from Python: the run's own for a run trained on such
    data, or any data its model takes."""
    run = RunDir(run_dir).require()
    # Held like training, so no two processes write the run's files at once.
    with run.training_lock("evaluated"):
        run.remove_partial_files()
        config = run.read_config()
        model = run.load_model()
        memory = None if test is None else (None, test)
        data = None if memory else recorded_data_dir(run, data_dir, test_only=True)
        dataset = run_dataset(run, config, data, memory=memory)
        check_model_takes(run, config, model, dataset)
        evaluation = evaluate_model(model, config, dataset, _recorded_plan(run, model))
        # Written beside training's figures and mistakes, never over them: this data may
        # differ, and the report shows both.
        mistakes = write_evaluation_files(run, evaluation, dataset, plots=config.output.plots,
                                          prefix="evaluation_")
        run.write_evaluation({
            **evaluation.metrics,
            **evaluation.detail(),
            "mistakes": mistakes,
            "evaluated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "data_source": dataset.recorded_source,
        })
        run.refresh_report()
    # Absolute, as train's result holds it: `evaluate()` of the latest run found it relative.
    return EvaluationResult(run.path.absolute(), evaluation, config.name)


def _recorded_plan(run: RunDir, model: keras.Model) -> ExecutionPlan:
    """How the run trained, from its metrics.json, where its model can take cut rows (a
    masked Embedding over sequences of any length); else padded, as before bucketing."""
    try:
        plan = ExecutionPlan.recorded(run.read_metrics().get("execution"))
    except RunError:  # a damaged metrics.json costs only the speed-up
        return EXACT
    first = model.layers[0] if model.layers else None
    if not getattr(first, "mask_zero", False) or model.input_shape[1] is not None:
        return EXACT
    return plan


def write_evaluation_files(run: RunDir, evaluation: Evaluation, dataset: Dataset, *,
                           plots: bool, prefix: str = "") -> list[dict[str, Any]]:
    """The confusion matrix plot and the most confidently wrong examples (largest errors for
    regression), as people read them; returned too. Training writes the run's own files;
    with a `prefix` ("evaluation_") the mistakes are only returned and the plots take
    their prefixed names."""
    indices = [item["index"] for item in evaluation.wrong]
    texts = None
    if dataset.test_texts:
        texts = [dataset.test_texts[index] for index in indices]
    elif dataset.input_kind == "word_indices":
        texts = _decoded_reviews(run, dataset.x_test[indices])
    if evaluation.is_regression:
        errors = list(evaluation.wrong)
        if texts is not None:
            errors = [{**item, "text": text} for item, text in zip(errors, texts)]
        if not prefix:
            run.write_mistakes(errors, regression=True)
        return errors
    names = dataset.class_names
    wrong = [
        {**item, "true_name": names[item["true"]], "predicted_name": names[item["predicted"]]}
        for item in evaluation.wrong
    ]
    if texts is not None:
        wrong = [{**item, "text": text} for item, text in zip(wrong, texts)]
    if not prefix:
        run.write_mistakes(wrong, regression=False)
    if plots and evaluation.confusion_matrix is not None:
        run.save_figure(reports.confusion_matrix_figure(evaluation.confusion_matrix, names),
                        prefix + "confusion_matrix")
    if plots and texts is None and indices:
        images = dataset.x_test[indices]
        run.save_figure(reports.wrong_images_figure(images, wrong, names),
                        prefix + "misclassified")
    return wrong


def _decoded_reviews(run: RunDir, sequences) -> Sequence[str]:
    try:
        word_index = run.read_word_index()
    except RunError:
        return ["(not decoded: imdb_word_index.json was not found)"] * len(sequences)
    return decode_reviews(sequences, word_index)
