"""Search expressions in configs: found by path, checked at load, substituted per trial."""

import re

import pytest
import yaml

from dlcourse.config import load_config
from dlcourse.errors import ConfigError
from dlcourse.config import check_search_config, load_search_config
from dlcourse.config.search import parse_expression

from helpers import ROOT

TUNE_CONFIG = ROOT / "configs" / "imdb_lstm_tune.yaml"


def lstm_raw() -> dict:
    return yaml.safe_load((ROOT / "configs" / "imdb_lstm.yaml").read_text()) | {"name": "t"}


def check(raw):
    return check_search_config(raw, source="bad.yaml")


def test_the_shipped_search_config_names_each_value_by_its_path():
    search = load_search_config(TUNE_CONFIG)
    assert [(e.path, e.describe()) for e in search.expressions] == [
        ("model.layers[0].Embedding.output_dim", "choice 16, 32, 64"),
        ("model.layers[1].LSTM.units", "int 16..64 step 16"),
        ("model.layers[1].LSTM.dropout", "float 0.0..0.5 step 0.1"),
        ("compile.optimizer.learning_rate", "float 0.0001..0.01 log"),
    ]
    # The rest of the config is validated with each value at its first (KerasTuner's default).
    assert search.config.model.layers[1].args == {"units": 16, "dropout": 0.0}
    assert search.config.compile.optimizer.learning_rate == 1e-4


def test_with_values_gives_one_trials_config():
    search = load_search_config(TUNE_CONFIG)
    values = {e.path: e.extremes[-1] for e in search.expressions}
    config = search.with_values(values)
    assert config.model.layers[0].args["output_dim"] == 64
    assert config.model.layers[1].args == {"units": 64, "dropout": 0.5}
    assert config.compile.optimizer.learning_rate == 1e-2


def test_expressions_can_be_set_from_the_command_line():
    search = load_search_config(
        ROOT / "configs" / "imdb_lstm.yaml",
        ["model.layers[1].LSTM.units={tune: int, min: 8, max: 32}", "fit.batch_size={tune: choice, values: [32, 64]}"],
    )
    assert [e.path for e in search.expressions] == ["model.layers[1].LSTM.units", "fit.batch_size"]


def test_a_fixed_value_from_the_command_line_replaces_an_expression():
    search = load_search_config(TUNE_CONFIG, ["model.layers[1].LSTM.units=48"])
    assert "model.layers[1].LSTM.units" not in [e.path for e in search.expressions]
    assert search.config.model.layers[1].args["units"] == 48


def test_yaml_exponents_and_mixed_numbers_are_read_as_numbers():
    raw = lstm_raw()
    raw["model"]["layers"][1]["LSTM"]["dropout"] = {"tune": "choice", "values": [0, 0.25]}
    raw["compile"]["optimizer"] = {
        "name": "adam", "learning_rate": {"tune": "choice", "values": ["1e-3", "1e-2"]}
    }
    dropout, rate = check(raw).expressions
    assert dropout.values == (0.0, 0.25) and rate.values == (0.001, 0.01)


def test_a_wrapped_layers_argument_is_searched_by_its_full_path():
    raw = lstm_raw()
    raw["model"]["layers"][1] = {
        "Bidirectional": {"layer": {"LSTM": {"units": {"tune": "int", "min": 8, "max": 16}}}}
    }
    (expression,) = check(raw).expressions
    assert expression.path == "model.layers[1].Bidirectional.layer.LSTM.units"


UNITS = ("model", "layers", 1, "LSTM", "units")


def at(location, value):
    def change(raw):
        node = raw
        for part in location[:-1]:
            node = node[part]
        node[location[-1]] = value
    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (at(UNITS, {"tune": "int", "min": 128, "max": 16}),
         "model.layers[1].LSTM.units: min (128) is greater than max (16)"),
        (at(UNITS, {"tune": "integer", "min": 1, "max": 2}),
         "model.layers[1].LSTM.units.tune: expected int, float or choice, got 'integer'"),
        (at(UNITS, {"tune": "int", "min": 1}),
         "model.layers[1].LSTM.units.max: missing required key"),
        (at(UNITS, {"tune": "int", "min": 1, "maximum": 4}),
         "model.layers[1].LSTM.units.maximum: unknown key in a search expression (did you mean 'max'?)"),
        (at(UNITS, {"tune": "int", "min": 1.5, "max": 4}),
         "model.layers[1].LSTM.units.min: expected an integer, got 1.5"),
        (at(UNITS, {"tune": "int", "min": 8, "max": 64, "step": 0}),
         "model.layers[1].LSTM.units.step: expected a value > 0, got 0"),
        (at(UNITS, {"tune": "int", "min": 8, "max": 64, "sampling": "exp"}),
         "model.layers[1].LSTM.units.sampling: expected 'linear' or 'log', got 'exp'"),
        (at(UNITS, {"tune": "int", "min": 8, "max": 64, "sampling": "log", "step": 1}),
         "model.layers[1].LSTM.units.step: with log sampling the step is the factor"),
        # KerasTuner tried min alone, trial after trial.
        (at(UNITS, {"tune": "int", "min": 16, "max": 64, "sampling": "log", "step": 16}),
         "model.layers[1].LSTM.units.step: 16 times 16 is above max (64), so min is the only "
         "value searched"),
        (at(UNITS, {"tune": "float", "min": 0.0, "max": 0.5, "step": 0.7}),
         "model.layers[1].LSTM.units.step: 0.0 + 0.7 is above max (0.5), so min is the only"),
        (at(("compile", "optimizer"), {"name": "sgd", "learning_rate":
                                       {"tune": "float", "min": 0, "max": 0.1, "sampling": "log"}}),
         "compile.optimizer.learning_rate: log sampling needs min > 0, got 0.0"),
        (at(UNITS, {"tune": "choice", "values": []}),
         "model.layers[1].LSTM.units.values: must not be empty"),
        (at(UNITS, {"tune": "choice", "values": [16, "many"]}),
         "model.layers[1].LSTM.units.values: expected values of one type, got names and numbers"),
        # The value at fault, as written: 16 was blamed as 16.0 (made one type with 32.5).
        (at(UNITS, {"tune": "choice", "values": [16, 32.5]}),
         "model.layers[1].LSTM.units: expected an integer, got 32.5 "
         "(searched by model.layers[1].LSTM.units: choice 16, 32.5)"),
        (at(UNITS, {"tune": "choice", "values": [16, 16]}),
         "model.layers[1].LSTM.units.values: 16 listed more than once"),
        (at(UNITS, {"tune": "choice", "values": [[16], [32]]}),
         "model.layers[1].LSTM.units.values: expected numbers, names or true/false, got [16]"),
        (at(("data", "limit"), {"tune": "int", "min": 100, "max": 200}),
         "data.limit: can't be searched"),
        (at(("fit", "validation_split"), {"tune": "float", "min": 0.1, "max": 0.3}),
         "fit.validation_split: can't be searched"),
        # A trial without the objective's metric failed silently; the search "finished".
        (at(("compile", "metrics"), [{"tune": "choice", "values": ["accuracy", "AUC"]}]),
         "compile.metrics[0]: can't be searched: each trial is scored by one of the metrics, "
         "its objective, which every trial must measure"),
        (at(("compile", "metrics"), {"tune": "choice", "values": ["accuracy", "AUC"]}),
         "compile.metrics: can't be searched"),
        # The rest of the config is validated for the whole range, not only its first value.
        (at(UNITS, {"tune": "int", "min": 0, "max": 16}),
         "model.layers[1].LSTM.units: expected a positive integer, got 0"),
        (at(("model", "layers", 1, "LSTM", "dropout"), {"tune": "float", "min": 0.1, "max": 1.5}),
         "model.layers[1].LSTM.dropout: expected a number in [0, 1), got 1.5 "
         "(searched by model.layers[1].LSTM.dropout: float 0.1..1.5)"),
        (at(("model", "layers", 2, "Dense", "activation"), {"tune": "choice", "values": ["sigmoid", 3]}),
         "expected values of one type"),
        (at(("fit", "epochs"), "ten"), "fit.epochs: expected an integer, got 'ten'"),
        # 20,000 choices took validate over two minutes (each checked on a copy of all).
        (at(UNITS, {"tune": "choice", "values": list(range(1, 1002))}),
         "model.layers[1].LSTM.units.values: 1,001 values, more than the 1,000"),
        (at(("model", "layers"), [{"Dense": {"units": {"tune": "int", "min": 1, "max": 2}}}] * 101),
         "101 values are searched, more than the 100"),
        # 98 choices of 1,000 values each, within both bounds: validate took 77 s.
        (at(("model", "layers"),
            [{"Dense": {"units": {"tune": "choice", "values": list(range(1, 1001))}}}] * 3),
         "the search expressions list 3,000 values in all, more than the 2,000"),
        # Ranked by val_loss, mean_absolute_error's 3.8 'beat' mean_squared_error's 23.8.
        (lambda raw: (at(("compile", "loss"), {"tune": "choice", "values": [
            "mean_squared_error", "mean_absolute_error"]})(raw),
                      raw["compile"].update(metrics=["mae"]),
                      raw["model"]["layers"][2]["Dense"].update(activation="linear")),
         "compile.loss: can't be searched here: the trials are ranked by val_loss"),
    ],
)
def test_bad_search_expressions_are_reported_with_their_path(change, message):
    raw = lstm_raw()
    change(raw)
    with pytest.raises(ConfigError) as caught:
        check(raw)
    assert str(caught.value).startswith("bad.yaml: ")
    assert message in str(caught.value)


def test_a_choice_of_numbers_reaches_keras_tuner_as_one_type_and_is_shown_as_written():
    raw = lstm_raw()
    at(("model", "layers", 1, "LSTM", "dropout"), {"tune": "choice", "values": [0, 0.5]})(raw)
    (expression,) = check(raw).expressions
    assert expression.describe() == "choice 0, 0.5"
    assert expression.choices == [0.0, 0.5]
    assert all(type(value) is float for value in expression.choices)  # KerasTuner's one type


def test_the_limits_of_a_search_are_accepted():
    raw = lstm_raw()
    at(UNITS, {"tune": "choice", "values": list(range(1, 1001))})(raw)
    assert len(check(raw).expressions[0].values) == 1000
    raw = lstm_raw()
    raw["model"]["layers"][1:2] = [{"Dense": {"units": {"tune": "int", "min": 1, "max": 2}}}] * 100
    raw["model"]["layers"][0] = {"Embedding": {"input_dim": 10000, "output_dim": 8}}
    assert len(check(raw).expressions) == 100


def test_a_problem_at_a_searched_value_says_it_is_searched():
    # Said of the first choice alone, as if the file had written relu there.
    raw = lstm_raw()
    at(("model", "layers", 2, "Dense", "activation"), {"tune": "choice", "values": ["relu", "sigmoid"]})(raw)
    with pytest.raises(ConfigError, match=re.escape(
            "'relu', but binary_crossentropy expects probabilities: use activation 'sigmoid' "
            "(searched by model.layers[2].Dense.activation: choice relu, sigmoid)")):
        check(raw)


def test_a_substituted_config_shares_no_dict_or_list_with_the_raw_one():
    """Now built around the expressions rather than deep-copied whole: a change to one
    trial's config must still reach neither the file's nor another trial's."""
    from dlcourse.config.search import substitute

    raw = lstm_raw()
    at(UNITS, {"tune": "choice", "values": [16, 32]})(raw)
    expressions = check(raw).expressions
    one = substitute(raw, expressions, {expressions[0].path: 16})
    one["model"]["layers"][1]["LSTM"]["dropout"] = 0.9
    one["compile"]["metrics"].append("auc")
    other = substitute(raw, expressions, {expressions[0].path: 32})
    assert other["model"]["layers"][1]["LSTM"] == raw["model"]["layers"][1]["LSTM"] | {"units": 32}
    assert "auc" not in raw["compile"]["metrics"] + other["compile"]["metrics"]
    assert raw["model"]["layers"][1]["LSTM"]["units"] == {"tune": "choice", "values": [16, 32]}


def test_all_problems_in_expressions_are_listed_at_once():
    raw = lstm_raw()
    at(UNITS, {"tune": "int", "min": 9, "max": 2})(raw)
    at(("fit", "batch_size"), {"tune": "choice", "values": []})(raw)
    with pytest.raises(ConfigError, match="2 problems"):
        check(raw)


def test_train_refuses_a_tunable_config_and_points_to_tune():
    with pytest.raises(ConfigError) as caught:
        load_config(TUNE_CONFIG)
    message = str(caught.value)
    assert "searches 4 values (model.layers[0].Embedding.output_dim, " in message
    assert re.search(r"`dlcourse tune \S+imdb_lstm_tune.yaml`", message)
    assert "best_config.yaml" in message


def test_a_loss_is_searched_where_trials_are_ranked_by_accuracy():
    """Ranked by val_accuracy (metrics of accuracy, acc, or left out: Keras's default),
    searching the loss compares like with like; it was refused from the raw file."""
    for metrics in (["acc"], None):
        raw = lstm_raw()
        at(("compile", "loss"), {"tune": "choice", "values": [
            "binary_crossentropy", "binary_focal_crossentropy"]})(raw)
        if metrics is None:
            raw["compile"].pop("metrics", None)
        else:
            raw["compile"]["metrics"] = metrics
        (expression,) = check(raw).expressions
        assert expression.path == "compile.loss"


@pytest.mark.parametrize("expression, count", [
    ({"tune": "choice", "values": [8, 16, 32]}, 3),
    ({"tune": "int", "min": 16, "max": 64, "step": 16}, 4),
    ({"tune": "int", "min": 1, "max": 10}, 10),
    ({"tune": "int", "min": 16, "max": 128, "step": 2, "sampling": "log"}, 4),
    ({"tune": "float", "min": 0.0, "max": 0.5, "step": 0.1}, 6),
    ({"tune": "float", "min": 1e-4, "max": 1e-2, "sampling": "log"}, None),
    ({"tune": "float", "min": 0.0, "max": 0.5}, None),
])
def test_a_searched_value_counts_the_values_keras_tuner_can_pick(expression, count):
    parsed, problems = parse_expression(("compile", "optimizer", "learning_rate"), expression)
    assert not problems and parsed.count == count
