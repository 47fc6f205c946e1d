import json
import shutil

import numpy as np
import pytest

import dlcourse
from dlcourse.evaluation import (
    class_scores,
    confusion_matrix,
    most_confidently_wrong,
    per_class_counted,
    per_class_scores,
    predict_in_slices,
    predict_test_split,
)
from dlcourse.config import load_config
from dlcourse.data import load_dataset, signature_of
from dlcourse.execution import ExecutionPlan
from dlcourse.models import build_model

from helpers import ROOT, predicted_widths, write_mnist



def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_per_class_scores_by_hand():
    matrix = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    scores = per_class_scores(matrix)
    assert scores[0] == {"class": 0, "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert scores[1]["precision"] == 0.5 and scores[1]["recall"] == 1.0
    assert scores[1]["f1"] == pytest.approx(2 / 3)
    assert scores[2]["precision"] == 1.0 and scores[2]["recall"] == pytest.approx(2 / 3)


def test_per_class_scores_name_their_classes_where_the_data_does():
    scores = per_class_scores(np.array([[2, 0], [1, 0]]), ("negative", "positive"))
    assert [(score["class"], score["name"]) for score in scores] == [(0, "negative"),
                                                                    (1, "positive")]


def test_a_class_never_predicted_scores_zero_not_nan():
    scores = per_class_scores(np.array([[2, 0], [1, 0]]))
    assert scores[1] == {"class": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_per_class_scores_without_a_matrix_are_the_same():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 7, 200), rng.integers(0, 7, 200)
    assert per_class_counted(truth, predicted, 9, "abcdefghi") == per_class_scores(
        confusion_matrix(truth, predicted, 9), "abcdefghi")


@pytest.mark.slow
def test_a_run_of_many_classes_keeps_its_figures_per_class_and_no_matrix(tmp_path, monkeypatch):
    """3,000 classes' matrix made metrics.json 81 MB, more than a run file is read at
    (runs and compare listed the run as damaged, and a second evaluation dropped the
    first); 10,000 took 11 GB and 901 MB."""
    monkeypatch.setattr("dlcourse.evaluation.MOST_CONFUSION_CLASSES", 5)
    write_mnist(tmp_path, train=32, test=16)
    result = dlcourse.train(ROOT / "configs" / "mnist_cnn.yaml", {"fit.epochs": 1},
                            data_dir=tmp_path, output_dir=tmp_path / "runs")
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert "confusion_matrix" not in metrics and len(metrics["per_class"]) == 10
    assert not (result.run_dir / "confusion_matrix.png").exists()
    assert (result.run_dir / "misclassified.png").exists()
    assert "<h2>Test split: per class</h2>" in (result.run_dir / "report.html").read_text()
    evaluated = dlcourse.evaluate(result, data_dir=tmp_path)
    assert evaluated["test_accuracy"] == pytest.approx(result.metrics["test_accuracy"])


def test_sigmoid_output_becomes_two_class_scores():
    np.testing.assert_allclose(class_scores(np.array([[0.9], [0.2]])), [[0.1, 0.9], [0.8, 0.2]])


def test_most_confidently_wrong_are_sorted_by_confidence():
    truth = np.array([0, 1, 1, 0])
    scores = np.array([[0.9, 0.1], [0.6, 0.4], [0.05, 0.95], [0.2, 0.8]])
    wrong = most_confidently_wrong(truth, scores)
    assert [item["index"] for item in wrong] == [3, 1]
    assert wrong[0] == {"index": 3, "true": 0, "predicted": 1, "confidence": 0.8}


def test_predicting_in_slices_gives_what_one_predict_call_gives(monkeypatch):
    import keras

    monkeypatch.setattr("dlcourse.evaluation.PREDICT_SLICE_SAMPLES", 10)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(21, 3)).astype("float32")
    # Slices of 8 (whole batches of 4), the last one short: 8 + 8 + 5.
    sliced = predict_in_slices(model, x, batch_size=4)
    assert sliced.shape == (21, 2)
    np.testing.assert_array_equal(sliced, model.predict(x, batch_size=4, verbose=0))


def test_a_bucketed_run_predicts_its_test_split_in_length_groups_to_the_same_result(
        data_dir, monkeypatch):
    config = load_config(ROOT / "configs" / "imdb_gru.yaml", ["data.limit=48"])
    dataset = load_dataset(config.data, data_dir)
    plan = ExecutionPlan(bucketing=True, bucket_width=8)  # the tiny reviews are short
    model = build_model(config, signature_of(dataset, config), plan)
    x = dataset.x_test
    padded = predict_in_slices(model, x, batch_size=8)
    widths = predicted_widths(monkeypatch)
    np.testing.assert_allclose(predict_test_split(model, x, 8, plan), padded, atol=1e-6)
    assert len(widths) > 1 and min(widths) < x.shape[1], "the groups were not cut"
    # Under XLA too, the groups are predicted cut, without XLA (which would compile each
    # group's shape first); the model compiles as before afterwards.
    model.jit_compile = True
    compiled = []
    monkeypatch.setattr(model, "make_predict_function",
                        lambda force=False, make=model.make_predict_function:
                        compiled.append(model.jit_compile) or make(force))
    widths.clear()
    xla = ExecutionPlan(jit_compile=True, bucketing=True, bucket_width=8)
    np.testing.assert_allclose(predict_test_split(model, x, 8, xla), padded, atol=1e-6)
    assert min(widths) < x.shape[1] and compiled and not any(compiled)
    assert model.jit_compile is True and model.predict_function is None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist", "imdb_lstm"])
def test_train_writes_detail_that_agrees_with_the_accuracy(name, trained):
    run_dir = trained[name]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    matrix = np.array(metrics["confusion_matrix"])
    samples = metrics["test_samples"]
    assert matrix.sum() == samples == trained.RECIPES[name][1]["data.limit"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    supports = [item["support"] for item in metrics["per_class"]]
    assert supports == matrix.sum(axis=1).tolist()
    recall_weighted = sum(item["recall"] * item["support"] for item in metrics["per_class"])
    assert recall_weighted / samples == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert (run_dir / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    wrong = json.loads((run_dir / "misclassified.json").read_text())
    assert len(wrong) == min(12, samples - np.trace(matrix))
    assert all(item["true"] != item["predicted"] for item in wrong)
    if name == "mnist":
        assert (run_dir / "misclassified.png").is_file()
    else:
        assert all(isinstance(item["text"], str) for item in wrong)


@pytest.mark.slow
def test_evaluate_writes_the_same_detail_beside_trainings(data_dir, trained, tmp_path):
    """Beside, never over: evaluate may read other data, and the report's per-class table
    (metrics.json) must keep showing the confusion matrix it came from."""
    run_dir = trained.copy("mnist", tmp_path)
    trainings = {name: (run_dir / name).stat() for name in (
        "misclassified.json", "misclassified.png", "confusion_matrix.png")}
    dlcourse.evaluate(run_dir, data_dir=data_dir)
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())  # what training measured
    assert evaluation["confusion_matrix"] == metrics["confusion_matrix"]
    assert evaluation["per_class"] == metrics["per_class"]
    assert evaluation["mistakes"] == json.loads((run_dir / "misclassified.json").read_text())
    for name, before in trainings.items():
        after = (run_dir / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name
    for name in ("evaluation_confusion_matrix.png", "evaluation_misclassified.png"):
        assert (run_dir / name).read_bytes().startswith(b"\x89PNG")
    report = (run_dir / "report.html").read_text()
    evaluated = report[report.index("<h2>Evaluated again</h2>"):]
    assert 'alt="evaluation_confusion_matrix"' in evaluated
    assert 'alt="evaluation_misclassified"' in evaluated


@pytest.mark.slow
def test_an_evaluation_on_other_data_keeps_the_one_before(data_dir, trained, tmp_path):
    """evaluation.json held only the latest: evaluating on new data lost the figures of
    the evaluation before, on the run's own test split."""
    run_dir = trained.copy("mnist", tmp_path)
    own = dlcourse.evaluate(run_dir, data_dir=data_dir)
    other = tmp_path / "other"
    other.mkdir()
    write_mnist(other, seed=7)
    new = dlcourse.evaluate(run_dir, data_dir=other)
    assert new["test_loss"] != own["test_loss"]
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["test_loss"] == pytest.approx(new["test_loss"])
    (before,) = evaluation["earlier"]
    assert before["test_loss"] == pytest.approx(own["test_loss"])
    assert str(data_dir) in before["data_source"] and "mistakes" not in before
    assert "confusion_matrix" not in before and "per_class" not in before
    dlcourse.evaluate(run_dir, data_dir=data_dir)
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert [str(other) in item["data_source"] for item in evaluation["earlier"]] == [True, False]
    report = (run_dir / "report.html").read_text()
    earlier = report[report.index("<h3>Earlier evaluations</h3>"):]
    assert str(other) in earlier and f"{own['test_accuracy']:.4f}" in earlier


@pytest.mark.slow
def test_a_raw_text_run_is_evaluated_from_its_test_files_alone(data_dir, trained, tmp_path):
    """evaluate read and vectorised the training texts too, to leave them unused: twice the
    work on IMDB's 25,000 reviews, and a --data-dir of new test data had to hold a training
    split as well."""
    run_dir = trained.copy("bow", tmp_path)
    new = tmp_path / "new" / "imdb_text"
    new.mkdir(parents=True)
    for path in (data_dir / "imdb_text").glob("aclImdb_test_*.jsonl.gz"):
        shutil.copy(path, new)
    result = dlcourse.evaluate(run_dir, data_dir=new.parent)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert str(new) in json.loads((run_dir / "evaluation.json").read_text())["data_source"]


@pytest.mark.slow
@pytest.mark.parametrize("name, other, says", [
    ("mnist", "imdb_lstm", "its layers (Embedding, LSTM, Dense) are not those config.yaml "
     "describes (Conv2D, MaxPooling2D,"),
    # The same input shape: it was evaluated and explained as this run's without a word.
    ("imdb_simplernn", "imdb_lstm", "its layers (Embedding, LSTM, Dense) are not those "
     "config.yaml describes (Embedding, SimpleRNN, Dense)"),
])
def test_a_model_from_another_run_is_named_by_evaluate_and_explain(
    trained, data_dir, tmp_path, name, other, says
):
    """A model.keras copied over from another run: TensorFlow's traceback (evaluate) or an
    IndexError (explain), in the middle of the work."""
    from click.testing import CliRunner

    from dlcourse.cli import main

    run = trained.copy(name, tmp_path)
    (run / "model.keras").write_bytes((trained[other] / "model.keras").read_bytes())
    for command in ("evaluate", "explain"):
        result = CliRunner().invoke(main, [command, str(run), "--data-dir", str(data_dir)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and says in result.output, result.output
        assert "is the run directory damaged (a model from another run)?" in result.output
    assert not (run / "evaluation.json").exists()


def test_a_model_with_other_outputs_than_the_classes_is_named(tmp_path):
    import keras

    from dlcourse.config import load_config
    from dlcourse.data import Dataset
    from dlcourse.errors import RunError
    from dlcourse.preparation import check_model_takes
    from dlcourse.rundir import RunDir

    config = load_config(ROOT / "configs" / "mnist_cnn.yaml")
    images = np.zeros((4, 28, 28, 1), "float32")
    digits = Dataset("mnist", images, np.zeros(4, int), images, np.zeros(4, int), 10, "mnist.npz")
    three = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    with pytest.raises(RunError, match=r"has 3 output\(s\), but mnist.npz has 10"):
        check_model_takes(RunDir(tmp_path), config, three, digits)
    ten = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(10)])
    check_model_takes(RunDir(tmp_path), config, ten, digits)  # the run's own: no error
    # A loss training doesn't tie to the classes (circle's embeddings) takes any width
    # there, and here.
    circle = config.model_copy(update={"compile": config.compile.model_copy(
        update={"loss": "circle"})})
    check_model_takes(RunDir(tmp_path), circle, three, digits)
    hinge = config.model_copy(update={"compile": config.compile.model_copy(
        update={"loss": "categorical_hinge"})})  # one output per class, as training needs
    with pytest.raises(RunError, match=r"has 3 output\(s\), but mnist.npz has 10"):
        check_model_takes(RunDir(tmp_path), hinge, three, digits)


def test_an_evaluation_prints_as_one_line_of_its_run_and_metrics(tmp_path):
    # Its repr was Evaluation(... wrong=[...]): the confusion matrix and every mistake.
    from dlcourse.evaluation import Evaluation, EvaluationResult

    evaluation = Evaluation({"test_loss": 0.05123, "test_accuracy": 0.984}, [[5] * 10] * 10,
                            [{"precision": 0.9}] * 10, [{"index": 3, "predicted": 7}] * 20)
    result = EvaluationResult(tmp_path / "mnist_cnn" / "1", evaluation)
    assert repr(result) == (f"<EvaluationResult mnist_cnn in {tmp_path}/mnist_cnn/1: "
                            "test_loss 0.0512, test_accuracy 0.9840>")
    assert dict(result) == {"test_loss": 0.05123, "test_accuracy": 0.984}


@pytest.mark.slow
def test_a_saturated_softmaxs_test_loss_is_keras_own(tmp_path):
    """Keras takes the cross-entropy from the logits; from the clipped probabilities a
    confidently wrong prediction cost at most 16.1, and test_loss said 11.8 where val_loss
    (and model.evaluate) said 64.9 on the same data."""
    import keras

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (60, 28, 28)).astype("float64"), rng.integers(0, 3, 60)
    run = dlcourse.train("mnist_cnn", {"model.layers[7].Dense.units": 3, "fit.epochs": 1},
                         train=(x, y), test=(x, y), output_dir=tmp_path)
    model = keras.saving.load_model(run.run_dir / "model.keras")
    keras_loss = model.evaluate(x[..., None], np.eye(3)[y], verbose=0, return_dict=True)["loss"]
    assert keras_loss > 17  # saturated: above what clipped probabilities can give
    assert run.metrics["test_loss"] == pytest.approx(keras_loss, rel=1e-4)
    assert run.history["val_loss"][-1] == pytest.approx(keras_loss, rel=1e-4)
