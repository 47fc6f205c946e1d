"""The speed-ups: which models get them, that bucketed batches drop only padding, and that
a bucketed, masked model computes what the lecture's fully padded one does."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import yaml

import dlcourse
from dlcourse.config import load_config
from dlcourse.errors import ConfigError, DataError
from dlcourse.execution import (
    EXACT,
    ExecutionPlan,
    LengthBuckets,
    RowBatches,
    fit_inputs,
    length_groups,
    plan_execution,
    sequence_lengths,
    validation_cut,
)
from dlcourse.data import load_dataset, signature_of
from dlcourse.models import build_model

from helpers import ROOT, invoke, one_paragraph, predicted_widths

LSTM = ROOT / "configs" / "imdb_lstm.yaml"
MNIST = ROOT / "configs" / "mnist_cnn.yaml"


def padded(lengths, maxlen=12, seed=0):
    """Front-padded rows of non-zero tokens, as pad_sequences leaves them."""
    rng = np.random.default_rng(seed)
    x = np.zeros((len(lengths), maxlen), dtype="int32")
    for row, length in enumerate(lengths):
        if length:
            x[row, -length:] = rng.integers(1, 50, length)
    return x


def test_recurrent_word_index_models_get_bucketing_and_xla_on_cpu():
    plan = plan_execution(load_config(LSTM), accelerator=False)
    assert plan.bucketing and plan.jit_compile is True
    assert plan.describe() == {"jit_compile": True, "bucketing": True, "bucket_width": 64}
    assert plan.sentence().startswith("Length-bucketed batches and XLA: ")


@pytest.mark.parametrize(
    ("overrides", "samples", "bucketing", "xla"),
    [
        (["data.limit=256", "fit.epochs=1"], 256, False, None),   # --smoke: 2 steps
        (["data.limit=5000", "fit.epochs=2"], 5000, True, None),  # 64 steps
        ([], 25000, True, True),                                 # the full run: 1,570 steps
    ],
    ids=["smoke", "5000x2", "full"],
)
def test_a_run_gets_only_the_speedups_that_pay_within_it(overrides, samples, bucketing, xla):
    plan = plan_execution(load_config(LSTM, overrides), accelerator=False, train_samples=samples)
    assert (plan.bucketing, plan.jit_compile) == (bucketing, xla)
    assert "steps" in plan.sentence()


@pytest.mark.parametrize(
    ("samples", "epochs", "bucketing", "xla"),
    [(5000, 2, False, None), (8000, 4, False, None), (25000, 10, True, True)],
    ids=["5000x2", "8000x4", "full"],
)
def test_a_simplernn_is_bucketed_only_with_xla(samples, epochs, bucketing, xla):
    config = load_config(ROOT / "configs" / "imdb_simplernn.yaml",
                         [f"data.limit={samples}", f"fit.epochs={epochs}"])
    plan = plan_execution(config, accelerator=False, train_samples=samples)
    assert (plan.bucketing, plan.jit_compile) == (bucketing, xla)
    if not bucketing:
        assert "SimpleRNN gains from bucketing only with XLA" in plan.sentence()


def test_a_bidirectional_lstm_counts_as_gated():
    config = load_config(ROOT / "configs" / "imdb_bilstm.yaml", ["data.limit=5000", "fit.epochs=2"])
    assert plan_execution(config, accelerator=False, train_samples=5000).bucketing


def test_convnets_and_accelerators_keep_keras_defaults():
    # XLA made the MNIST CNN several times slower on CPU; on a GPU Keras picks cuDNN/XLA.
    assert plan_execution(load_config(MNIST), accelerator=False) == EXACT
    assert plan_execution(load_config(LSTM), accelerator=True) == EXACT


def test_speedups_off_is_the_exact_computation_even_written_as_yaml_off(tmp_path):
    raw = yaml.safe_load(LSTM.read_text())
    raw["execution"] = {"speedups": False}  # what YAML makes of a bare `off`
    path = tmp_path / "exact.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    assert config.execution.speedups == "off"
    assert plan_execution(config, accelerator=False) == EXACT
    assert plan_execution(load_config(LSTM, ["execution.speedups=off"]), accelerator=False) == EXACT


def test_one_speedup_can_be_chosen_alone():
    config = load_config(LSTM, ["execution.jit_compile=false"])
    plan = plan_execution(config, accelerator=False)
    assert plan.bucketing and plan.jit_compile is False


def test_contradictory_or_impossible_settings_are_refused_by_key():
    with pytest.raises(ConfigError, match="execution: jit_compile: true contradicts speedups: off"):
        load_config(LSTM, ["execution.speedups=off", "execution.jit_compile=true"])
    with pytest.raises(ConfigError, match="execution.bucketing: true needs"):
        plan_execution(load_config(MNIST, ["execution.bucketing=true"]), accelerator=False)
    mirrored = load_config(LSTM, ["distribution.strategy=mirrored", "execution.jit_compile=true"])
    with pytest.raises(ConfigError, match="not supported with distribution.strategy: mirrored"):
        plan_execution(mirrored, accelerator=False)
    assert plan_execution(load_config(LSTM, ["distribution.strategy=mirrored"])) == EXACT


def test_a_refused_mask_means_no_bucketing():
    raw_layers = ["model.layers=[{Embedding: {input_dim: 10000, output_dim: 32, "
                  "mask_zero: false}}, {LSTM: {units: 32}}, {Dense: {units: 1, "
                  "activation: sigmoid}}]"]
    plan = plan_execution(load_config(LSTM, raw_layers), accelerator=False)
    assert not plan.bucketing and plan.jit_compile is True


@pytest.mark.parametrize(("after", "bucketed"), [
    ("{GRU: {units: 8, return_sequences: true}}, {GlobalMaxPooling1D: {}}", False),
    ("{GRU: {units: 8, return_sequences: true}}, {Conv1D: {filters: 4, kernel_size: 3}}, "
     "{GlobalAveragePooling1D: {}}", False),
    ("{Bidirectional: {layer: {LSTM: {units: 8, return_sequences: true}}}}", False),
    ("{LSTM: {units: 8, return_sequences: true}}, {Dropout: {rate: 0.1}}, {LSTM: {units: 8}}",
     True),
    ("{Bidirectional: {layer: {GRU: {units: 8}}}}", True),
])
def test_only_recurrent_layers_may_see_the_padding_a_cut_leaves(after, bucketed):
    # A pooling or convolution over the time steps would see fewer of them in a cut batch.
    layers = [f"model.layers=[{{Embedding: {{input_dim: 10000, output_dim: 8}}}}, {after}, "
              "{Dense: {units: 1, activation: sigmoid}}]"]
    plan = plan_execution(load_config(LSTM, layers), accelerator=False)
    assert plan.bucketing is bucketed


def test_sequence_lengths_count_from_the_first_token():
    x = padded([0, 1, 5, 12])
    assert sequence_lengths(x).tolist() == [0, 1, 5, 12]


def test_each_epoch_uses_every_row_once_and_cuts_only_padding():
    lengths = np.random.default_rng(1).integers(0, 13, 103)
    x, y = padded(lengths), np.arange(103)
    buckets = LengthBuckets(x, y, batch_size=8, width=4, seed=7)
    batches = buckets.batches(0)
    assert len(batches) == len(buckets) == 13
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    for rows in batches:
        cut = buckets.length_of(rows)
        assert cut % 4 == 0 or cut == 12
        assert (x[rows, :-cut] == 0).all(), "a cut batch lost a token"
    (last,) = [rows for rows in batches if len(rows) < 8]
    assert buckets.length_of(last) == 12  # one shape every epoch, so XLA compiles it once
    assert buckets.padded_steps_fraction() < 1


def test_the_order_depends_on_the_seed_and_epoch_only():
    x = padded(np.random.default_rng(2).integers(0, 13, 64))
    first = LengthBuckets(x, np.zeros(64), batch_size=8, width=4, seed=3)
    again = LengthBuckets(x, np.zeros(64), batch_size=8, width=4, seed=3)
    order = [rows.tolist() for rows in first.batches(1)]
    assert order == [rows.tolist() for rows in again.batches(1)]
    assert order != [rows.tolist() for rows in first.batches(2)]
    fixed = LengthBuckets(x, np.zeros(64), batch_size=8, width=4)
    assert [r.tolist() for r in fixed.batches(0)] == [r.tolist() for r in fixed.batches(5)]


def test_the_dataset_gives_the_epoch_fit_starts_at():
    # A resumed run starts at epoch 2: its batches must be those of epoch 2.
    x = padded(np.random.default_rng(3).integers(0, 13, 40))
    buckets = LengthBuckets(x, np.arange(40), batch_size=8, width=4, seed=5)
    buckets.callback().on_epoch_begin(2)
    seen = [batch_y.tolist() for _, batch_y in buckets.dataset().as_numpy_iterator()]
    assert seen == [rows.tolist() for rows in buckets.batches(2)]
    following = [batch_y.tolist() for _, batch_y in buckets.dataset().as_numpy_iterator()]
    assert following == [rows.tolist() for rows in buckets.batches(3)]


def test_a_bag_of_words_too_large_for_keras_is_fed_in_row_batches(data_dir, monkeypatch):
    """Keras's own path for NumPy arrays held about four copies of a bag of words
    (imdb_bow_bigrams took 7.8 GB). Where that is more than half the machine's memory, the
    rows pass batch by batch, shuffled each epoch from (seed, epoch), so a resumed run
    gets an uninterrupted one's batches."""
    import dlcourse.execution as execution

    config = load_config(ROOT / "configs" / "imdb_bow_bigrams.yaml",
                         ["data.limit=40", "fit.batch_size=8"])
    dataset = load_dataset(config.data, data_dir)
    plan = plan_execution(config, accelerator=False)
    assert "validation_split" in fit_inputs(config, dataset, plan).arguments  # Keras's path
    monkeypatch.setattr(execution, "KERAS_ARRAY_COPIES", 10**12)  # as on a small machine
    inputs = fit_inputs(config, dataset, plan)
    assert "validation_split" not in inputs.arguments  # cut here, where Keras cuts
    cut = validation_cut(40, config.fit.validation_split)
    (callback,) = inputs.callbacks
    callback.on_epoch_begin(2)  # a run resumed at its third epoch
    seen = list(inputs.arguments["x"].as_numpy_iterator())
    rows = RowBatches(dataset.x_train[:cut], dataset.y_train[:cut], 8, seed=config.seed)
    expected = rows.batches(2)
    assert len(seen) == len(expected) == inputs.steps_per_epoch == -(-cut // 8)
    for (x, y), picked in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(x, dataset.x_train[picked].astype("float32"))
        np.testing.assert_array_equal(y, dataset.y_train[picked])
    assert sorted(np.concatenate(expected).tolist()) == list(range(cut))
    assert [r.tolist() for r in rows.batches(2)] != [r.tolist() for r in rows.batches(3)]
    held_out = np.concatenate([y for _, y in inputs.arguments["validation_data"]])
    np.testing.assert_array_equal(held_out, dataset.y_train[cut:])  # in order


def test_length_groups_hold_every_row_once_and_cut_only_padding():
    x = padded(np.random.default_rng(4).integers(0, 13, 57))
    groups = length_groups(x, width=4)
    assert [length for length, _ in groups] == [4, 8, 12]
    assert sorted(np.concatenate([rows for _, rows in groups]).tolist()) == list(range(57))
    for length, rows in groups:
        assert (x[rows, :x.shape[1] - length] == 0).all(), "a cut row lost a token"
        assert (np.maximum(sequence_lengths(x[rows]), 1) > length - 4).all(), "too long a cut"


def test_a_run_record_gives_back_its_bucketing_and_nothing_else():
    bucketed = ExecutionPlan(jit_compile=None, bucketing=True, bucket_width=32)
    assert ExecutionPlan.recorded(bucketed.describe()) == bucketed
    xla = ExecutionPlan(jit_compile=True, bucketing=True)
    assert ExecutionPlan.recorded(xla.describe()) == xla
    huge = ExecutionPlan.recorded({"bucketing": True, "bucket_width": 10**30})
    assert [length for length, _ in length_groups(padded([3, 12]), huge.bucket_width)] == [12]
    for record in (None, [], {"bucketing": "yes", "bucket_width": 64},
                   {"bucketing": True, "bucket_width": 0},
                   {"bucketing": True, "bucket_width": True}, EXACT.describe()):
        assert ExecutionPlan.recorded(record) == EXACT


def test_validation_is_cut_where_keras_cuts_it():
    assert validation_cut(25000, 0.2) == 20000
    assert validation_cut(10, 0.25) == 7
    assert validation_cut(2, 0.2) == 1


def test_a_split_that_leaves_a_side_empty_is_refused_before_a_run_directory(data_dir, tmp_path):
    """Keras would raise its ValueError inside `fit`, after the run directory was made."""
    with pytest.raises(DataError, match="no training example"):
        validation_cut(1, 0.2)
    with pytest.raises(DataError, match="no training example"):
        validation_cut(4, 0.8)
    result = invoke("train", ROOT / "configs" / "imdb_bilstm.yaml", "--data-dir", data_dir,
                    "--output-dir", tmp_path / "runs", "--set", "data.limit=1")
    assert result.exit_code == 2 and "fit.validation_split=0.2 of 1" in result.output
    assert one_paragraph(result) and not (tmp_path / "runs").exists()


def test_a_masked_model_gives_cut_batches_their_full_length_result(data_dir):
    config = load_config(LSTM, ["data.limit=32"])
    dataset = load_dataset(config.data, data_dir)
    plan = plan_execution(config, accelerator=False)
    model = build_model(config, signature_of(dataset, config), plan)
    x = dataset.x_test
    full = model.predict(x, verbose=0)
    buckets = LengthBuckets(x, dataset.y_test, batch_size=8, width=plan.bucket_width)
    for rows in buckets.batches(0):
        cut = model.predict(x[rows, -buckets.length_of(rows):], verbose=0)
        np.testing.assert_allclose(cut, full[rows], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("speedups", ["auto", "off"])
def test_a_run_records_how_it_was_computed(data_dir, tmp_path, speedups, monkeypatch):
    # Bucketing is chosen, since 2 epochs of 40 reviews are too short for auto to pick it.
    run = dlcourse.train(
        LSTM,
        {"data.limit": 40, "fit.epochs": 2, "execution.speedups": speedups,
         "execution.bucketing": speedups == "auto"},
        data_dir=data_dir,
        output_dir=tmp_path / "runs",
    )
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    history = json.loads((run.run_dir / "history.json").read_text())
    bucketed = speedups == "auto"
    assert metrics["execution"]["bucketing"] is bucketed
    assert metrics["seconds_to_first_epoch"] > history["epoch_seconds"][0]
    assert len(history["val_accuracy"]) == 2
    # Bucketing trains on 32 and validates on the last 8, as Keras's validation_split.
    assert metrics["train_samples"] == 32
    reloaded = keras.models.load_model(run.run_dir / "model.keras")
    assert reloaded.layers[0].get_config()["mask_zero"] is bucketed
    np.testing.assert_allclose(
        reloaded.predict(np.zeros((1, 500), "int32") + 5, verbose=0),
        run.model.predict(np.zeros((1, 500), "int32") + 5, verbose=0),
        atol=1e-6,
    )
    # `evaluate` predicts as the run trained: cut (the tiny reviews fit 64 steps) or padded.
    widths = predicted_widths(monkeypatch)
    before = dlcourse.evaluate(run.run_dir, data_dir=data_dir)["test_accuracy"]
    assert (max(widths) < 500) is bucketed
    # A damaged record costs only the speed-up.
    (run.run_dir / "metrics.json").write_text("{not json")
    widths.clear()
    assert dlcourse.evaluate(run.run_dir, data_dir=data_dir)["test_accuracy"] == before
    assert widths == [500]
