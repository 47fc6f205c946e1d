"""dlcourse's own layers: NaiveBayesBag's ratios, its sum, the rows it learns them from,
and a run that uses it trained, saved, loaded and asked."""

from dataclasses import replace

import numpy as np
import pytest

import dlcourse
from dlcourse.config import load_config
from dlcourse.data.text import text_dataset
from dlcourse.errors import ModelDataMismatch
from dlcourse.layers import NaiveBayesBag, log_count_ratios
from dlcourse.preparation import prepare
from dlcourse.rundir import RunDir

from helpers import ROOT, invoke

BEST = ROOT / "configs" / "imdb_best.yaml"
# The shipped config made tiny: a vocabulary of words and pairs for toy reviews.
TINY = {"data.vectorize.max_tokens": 60, "data.vectorize.ngrams": 2,
        "data.vectorize.output_sequence_length": 12,
        "model.layers": [{"NaiveBayesBag": {"input_dim": 60}},
                         {"Dense": {"units": 1, "activation": "sigmoid"}}],
        "fit.epochs": 20, "fit.batch_size": 8, "fit.callbacks": [],
        "compile.optimizer.learning_rate": 0.05}


def reviews(count: int, seed: int = 0):
    """Toy reviews whose label is told by one of 'great' or 'awful' among neutral words."""
    rng = np.random.default_rng(seed)
    neutral = ["the", "film", "plot", "a", "acting", "was"]
    texts, labels = [], []
    for index in range(count):
        label = index % 2
        words = list(rng.choice(neutral, 5)) + ["great" if label else "awful"]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def test_log_count_ratios_count_each_token_once_per_text_with_laplace_smoothing():
    tokens = np.array([[2, 2, 3, 0], [3, 4, 0, 0], [2, 0, 0, 0]])
    labels = np.array([1, 0, 1])
    # Positive texts hold token 2 twice over (once each: binarised) and 3 once; the negative
    # one holds 3 and 4. Index 0 is padding and 1 (out of vocabulary) never occurs.
    p = 1 + np.array([0, 0, 2, 1, 0])
    q = 1 + np.array([0, 0, 0, 1, 1])
    expected = np.log((p / p.sum()) / (q / q.sum()))
    expected[0] = 0
    np.testing.assert_allclose(log_count_ratios(tokens, labels, 5), expected, rtol=1e-6)


def test_the_bag_sums_ratio_times_weight_over_distinct_tokens():
    layer = NaiveBayesBag(input_dim=5, output_dim=2)
    layer.build((None, 4))
    weights = np.arange(10, dtype="float32").reshape(5, 2)
    ratios = np.array([[0.0], [0.5], [-1.0], [2.0], [3.0]], dtype="float32")
    layer.embeddings.assign(weights)
    layer.ratios.assign(ratios)
    out = np.asarray(layer(np.array([[2, 3, 2, 0], [0, 0, 0, 0]], dtype="int32")))
    # Token 2 appears twice but counts once; padding adds nothing.
    np.testing.assert_allclose(out[0], -1.0 * weights[2] + 2.0 * weights[3])
    np.testing.assert_allclose(out[1], [0.0, 0.0])


def test_the_ratios_come_from_the_rows_the_model_fits_never_the_validation_split():
    config = load_config(BEST, {**TINY, "data.format": None, "fit.validation_split": 0.25})
    texts, labels = reviews(8)
    dataset = text_dataset(config.data, (texts, labels), (texts, labels))
    rng = np.random.default_rng(0)
    x = rng.integers(2, 10, size=(40, 12)).astype("int32")
    y = np.arange(40) % 2
    # Token 50 only in the last quarter, Keras's validation split, and always positive:
    # had the ratios seen those rows it would look like a perfectly positive word.
    x[30:, 0], y[30:] = 50, 1
    dataset = replace(dataset, x_train=x, y_train=y)
    bag = prepare(config, dataset=dataset).model.layers[0]
    ratios = np.asarray(bag.ratios)[:, 0]
    np.testing.assert_allclose(ratios, log_count_ratios(x[:30], y[:30], 60), rtol=1e-6)
    # Unseen by the fit part, 50 is worth exactly what the never-seen 51 is.
    assert ratios[50] == ratios[51]
    assert log_count_ratios(x, y, 60)[50] > ratios[51] + 1


def test_it_needs_two_classes():
    config = load_config(BEST, {**TINY, "data.format": None, "data.class_names": None})
    texts, _ = reviews(12)
    three = [index % 3 for index in range(12)]
    dataset = text_dataset(config.data, (texts, three), (texts, three))
    with pytest.raises(ModelDataMismatch, match="NaiveBayesBag .* needs two classes; raw_text has 3"):
        prepare(config, dataset=dataset)


@pytest.mark.slow
def test_a_run_with_it_learns_saves_loads_and_predicts_raw_text(tmp_path):
    train, test = reviews(48, seed=1), reviews(16, seed=2)
    result = dlcourse.train(BEST, {**TINY, "data.format": None}, train=train, test=test,
                            output_dir=tmp_path)
    assert result.metrics["test_accuracy"] == 1.0
    run = RunDir(result.run_dir)
    loaded = run.load_model()
    bag = loaded.layers[0]
    assert isinstance(bag, NaiveBayesBag)
    # The ratios travel with the model: 'great' is positive, 'awful' negative.
    tokens = run.read_vocabulary(run.read_config().data.vectorize).tokens
    ratios = np.asarray(bag.ratios)[:, 0]
    assert ratios[tokens.index("great")] > 1 > -1 > ratios[tokens.index("awful")]
    predictions = dlcourse.predict(result.run_dir, ["the plot was great", "awful acting"])
    assert [p["label"] for p in predictions] == ["positive", "negative"]


def test_it_must_come_first_and_take_indices():
    texts, labels = reviews(12)
    second = load_config(BEST, {**TINY, "data.format": None, "model.layers": [
        {"Embedding": {"input_dim": 60, "output_dim": 4}},
        {"NaiveBayesBag": {"input_dim": 60}}, {"Dense": {"units": 1, "activation": "sigmoid"}}]})
    dataset = text_dataset(second.data, (texts, labels), (texts, labels))
    with pytest.raises(ModelDataMismatch, match=r"layers\[1\].NaiveBayesBag must be the first layer"):
        prepare(second, dataset=dataset)
    bag = load_config(BEST, {**TINY, "data.format": None, "data.vectorize.output_mode": "multi_hot",
                             "data.vectorize.output_sequence_length": None})
    dataset = text_dataset(bag.data, (texts, labels), (texts, labels))
    with pytest.raises(ModelDataMismatch, match=r"NaiveBayesBag expects word indices, but raw_text "
                                                r"gives bag-of-words"):
        prepare(bag, dataset=dataset)


def test_a_wrapped_one_is_refused_too():
    texts, labels = reviews(12)
    wrapped = load_config(BEST, {**TINY, "data.format": None, "model.layers": [
        {"TimeDistributed": {"layer": {"NaiveBayesBag": {"input_dim": 60}}}},
        {"Dense": {"units": 1, "activation": "sigmoid"}}]})
    dataset = text_dataset(wrapped.data, (texts, labels), (texts, labels))
    with pytest.raises(ModelDataMismatch, match=r"layers\[0\].TimeDistributed.layer"
                                                r".NaiveBayesBag must be the first layer, unwrapped"):
        prepare(wrapped, dataset=dataset)


def test_token_indices_beyond_its_table_are_named_before_training():
    config = load_config(BEST, {**TINY, "data.format": None})
    texts, labels = reviews(8)
    dataset = text_dataset(config.data, (texts, labels), (texts, labels))
    x = dataset.x_train.copy()
    x[0, 0] = 75  # as data given from Python with more words than input_dim
    with pytest.raises(ModelDataMismatch, match="NaiveBayesBag.input_dim is 60, but the training "
                                                "data holds token index 75"):
        prepare(config, dataset=replace(dataset, x_train=x))


def test_ratios_need_one_zero_or_one_label_per_text():
    tokens = np.array([[2, 3], [3, 4]])
    for labels in (np.eye(2), np.array([0.7, 0.2]), np.array([1])):
        with pytest.raises(ValueError, match="one 0/1 label per text"):
            log_count_ratios(tokens, labels, 5)


def test_validate_names_a_misspelt_argument_of_it(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BEST.read_text().replace("output_dim: 1}", "output_dm: 1}"))
    result = invoke("validate", bad)
    assert result.exit_code == 2
    assert "NaiveBayesBag.output_dm: unknown argument of NaiveBayesBag (did you mean 'output_dim'?)" \
        in result.output
