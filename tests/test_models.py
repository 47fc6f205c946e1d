import numpy as np
import pytest

from dlcourse.config import load_config, load_search_config
from dlcourse.data import DataSignature
from dlcourse.errors import ConfigError, ModelDataMismatch
from dlcourse.models import build_model

from helpers import CONFIGS, ROOT

MNIST = DataSignature("mnist", (28, 28, 1), "float32", 10)
IMDB = DataSignature("imdb", (500,), "int32", 2, vocabulary_size=10000)


def signature_for(config):
    """What each dataset gives the model, as the loaders would for the config's settings."""
    data = config.data
    if data.dataset == "imdb":
        return IMDB
    if data.dataset == "cifar10":
        return DataSignature("cifar10", (32, 32, 3), "float32", 10)
    if data.dataset == "image_folder":
        channels = {"grayscale": 1, "rgba": 4}.get(data.color_mode, 3)
        return DataSignature("folder", (*data.image_size, channels), "float32", 102)
    if data.dataset == "raw_text":
        classes = 0 if config.task == "regression" else 2
        vectorize = data.vectorize
        if vectorize.output_mode == "int":
            return DataSignature("raw_text", (vectorize.output_sequence_length,), "int32", classes,
                                 vocabulary_size=vectorize.max_tokens, input_kind="word_indices")
        return DataSignature("raw_text", (vectorize.max_tokens,), "float32", classes,
                             input_kind="bag_of_words")
    return MNIST


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_builds_with_the_right_output_shape(path):
    config = load_search_config(path).config  # a tunable one at its first values
    data = signature_for(config)
    model = build_model(config, data)
    binary_or_number = config.compile.loss == "binary_crossentropy" or config.task == "regression"
    expected_width = 1 if binary_or_number else data.num_classes
    assert model.input_shape == (None, *data.input_shape)
    assert model.output_shape == (None, expected_width)
    assert type(model.optimizer).__name__.lower() == config.compile.optimizer.name


def test_lecture_parameter_counts():
    # DLwP notebook 5.1 prints 93,322 parameters for the MNIST CNN; the IMDB models are
    # 320,000 embedding weights plus the recurrent layer and the Dense(1).
    assert build_model(load_config(ROOT / "configs/mnist_cnn.yaml"), MNIST).count_params() == 93322
    counts = {
        name: build_model(load_config(ROOT / f"configs/imdb_{name}.yaml"), IMDB).count_params()
        for name in ("simplernn", "lstm", "gru")
    }
    assert counts == {"simplernn": 322113, "lstm": 328353, "gru": 326369}


def mismatch(config_name, overrides, data):
    with pytest.raises(ModelDataMismatch) as caught:
        build_model(load_config(ROOT / "configs" / config_name, overrides), data)
    return str(caught.value)


def test_output_width_must_match_the_classes():
    message = mismatch("mnist_cnn.yaml", ["model.layers[7].Dense.units=64"], MNIST)
    assert "gives 64 outputs" in message and "needs 10" in message
    assert "model.layers[7].Dense" in message


@pytest.mark.parametrize("loss", ["dice", "kld", "poisson", "cosine_similarity"])
def test_an_elementwise_loss_takes_one_output_for_two_classes_and_one_per_class_else(loss):
    """Labels are made one-hot for these losses only beyond two classes: a one-sigmoid
    IMDB model trained on 0/1 labels before, and its runs evaluate as they did."""
    from dlcourse.data import one_hot_if_needed

    build_model(load_config(ROOT / "configs" / "imdb_lstm.yaml", [f"compile.loss={loss}"]), IMDB)
    message = mismatch("imdb_lstm.yaml", [f"compile.loss={loss}", "model.layers[2].Dense.units=2",
                                          "model.layers[2].Dense.activation=softmax"], IMDB)
    assert f"gives 2 outputs, but {loss} on imdb" in message and "needs 1" in message
    assert mismatch("mnist_cnn.yaml", [f"compile.loss={loss}", "model.layers[7].Dense.units=1"],
                    MNIST).endswith("needs 10: set its units to 10.")
    labels = np.array([0, 1, 1])
    assert one_hot_if_needed(labels, 2, loss).shape == (3,)
    assert one_hot_if_needed(labels, 10, loss).shape == (3, 10)


def test_own_classes_are_named_when_the_output_does_not_fit_them():
    """Labels 'pos', 'pos ' and 'Pos' are three classes: said as '4 classes ... needs 4',
    the reason was out of sight."""
    from dataclasses import replace

    own = replace(IMDB, num_classes=4, class_names=("Pos", "neg", "pos", "pos "))
    message = mismatch("imdb_lstm.yaml", ["model.layers[2].Dense={units: 2, activation: softmax}",
                                          "compile.loss=sparse_categorical_crossentropy"], own)
    assert "with 4 classes (0: 'Pos', 1: 'neg', 2: 'pos', 3: 'pos '), needs 4" in message


def test_a_value_only_keras_can_judge_is_named_with_its_path():
    # A negative L2 factor passes the catalog's check (a number); Keras refused it with a
    # traceback from the regularizer's constructor.
    message = mismatch("imdb_lstm.yaml", ["model.layers[2].Dense.kernel_regularizer={L2: {l2: -1}}"],
                       IMDB)
    assert message.startswith("model.layers[2].Dense.kernel_regularizer.L2: ")
    assert "non-negative" in message


def test_a_layer_named_as_keras_names_the_next_is_told_with_both_paths():
    # Keras names a model's first unnamed Dense `dense`, whatever the process built before.
    message = mismatch("mnist_cnn.yaml", ["model.layers[6].Dense.name=dense"], MNIST)
    assert message == ("model.layers[7].Dense and model.layers[6].Dense are both named "
                       "'dense' (Keras names a layer without a `name` itself); "
                       "give one of them another `name`.")


def test_binary_loss_on_own_data_of_three_classes():
    # MNIST's ten classes are known at load (tests/test_config.py); own data's only here.
    from dataclasses import replace

    own = replace(IMDB, name="reviews", num_classes=3, class_names=("bad", "good", "meh"))
    message = mismatch("imdb_lstm.yaml", [], own)
    # Named: a label of the test split alone adds one, and the count alone hid which.
    assert message.startswith("compile.loss: binary_crossentropy, but reviews has 3 classes "
                              "(0: 'bad', 1: 'good', 2: 'meh'): use categorical_crossentropy")


def test_embedding_smaller_than_the_vocabulary():
    message = mismatch("imdb_lstm.yaml", ["model.layers[0].Embedding.input_dim=5000"], IMDB)
    assert "input_dim is 5000, but data.num_words is 10000" in message


def test_image_model_on_text_data():
    message = mismatch("mnist_cnn.yaml", [], IMDB)
    assert "model.layers[0] is Conv2D" in message and "word-index sequences" in message


def test_text_model_on_image_data():
    message = mismatch("imdb_lstm.yaml", [], MNIST)
    assert "Embedding expects word indices" in message and "images of shape 28x28x1" in message


def test_layer_that_cannot_take_its_input_is_named():
    config_overrides = ["model.layers[1]={Conv1D: {filters: 4, kernel_size: 3}}"]
    message = mismatch("mnist_cnn.yaml", config_overrides, MNIST)
    assert message.startswith("model.layers[1].Conv1D can't take its input")


def refused_at_load(config_name, overrides):
    """What Keras would refuse when building is caught when the config is loaded."""
    with pytest.raises(ConfigError) as caught:
        load_config(ROOT / "configs" / config_name, overrides)
    return str(caught.value)


def test_unknown_keyword_argument_is_named_with_its_layer():
    message = refused_at_load("imdb_lstm.yaml", ["model.layers[1].LSTM.unit=3"])
    assert "model.layers[1].LSTM.unit: unknown argument of LSTM (did you mean 'units'?)" in message


def test_optimizer_argument_it_does_not_take():
    message = refused_at_load("imdb_lstm.yaml", ["compile.optimizer={name: adam, momentum: 0.9}"])
    assert "compile.optimizer.momentum: adam takes no momentum" in message
    # Those that do are Keras's, not a fixed "sgd and rmsprop" that left out muon.
    assert "(muon, rmsprop, sgd take momentum)" in message


def test_wrapped_layers_are_built():
    config = load_config(
        ROOT / "configs/imdb_lstm.yaml",
        ["model.layers[1]={Bidirectional: {layer: {LSTM: {units: 8}}}}"],
    )
    model = build_model(config, IMDB)
    assert model.layers[1].__class__.__name__ == "Bidirectional"
    assert model.layers[1].output.shape[-1] == 16


BAG_OF_WORDS = DataSignature("raw_text", (200,), "float32", 2, input_kind="bag_of_words")
RATINGS = DataSignature("raw_text", (200,), "float32", 0, input_kind="bag_of_words")


def test_bag_of_words_into_an_embedding_is_refused_with_a_hint():
    message = mismatch("imdb_lstm.yaml", [], BAG_OF_WORDS)
    assert "Embedding expects word indices" in message and "bag-of-words vectors" in message
    assert "output_mode int" in message


def test_embedding_smaller_than_the_fitted_vocabulary():
    fitted = DataSignature(
        "raw_text", (500,), "int32", 2, vocabulary_size=12000, input_kind="word_indices",
        vocabulary_origin="the vocabulary fitted on the training texts (data.vectorize.max_tokens)",
    )
    message = mismatch("imdb_text_lstm.yaml", [], fitted)
    assert "input_dim is 10000, but the vocabulary fitted on the training texts" in message


def test_regression_needs_one_linear_output():
    message = mismatch("imdb_rating_regression.yaml", ["model.layers[2].Dense.units=3"], RATINGS)
    assert "gives 3 outputs" in message and "one number per example" in message


def test_learning_rate_schedule_becomes_a_keras_schedule():
    model = build_model(load_config(ROOT / "configs/mnist_cnn_sgd_momentum.yaml"), MNIST)
    schedule = model.optimizer.learning_rate_schedule if hasattr(
        model.optimizer, "learning_rate_schedule") else model.optimizer._learning_rate
    assert type(schedule).__name__ == "ExponentialDecay"
    assert float(schedule(938)) == pytest.approx(0.009)
    assert model.optimizer.momentum == 0.9 and model.optimizer.weight_decay == 0.0005


def test_schedule_argument_it_does_not_take():
    message = refused_at_load(
        "mnist_cnn_sgd_momentum.yaml",
        ["compile.optimizer.learning_rate={schedule: ExponentialDecay, initial_rate: 0.1}"],
    )
    assert ("compile.optimizer.learning_rate.initial_rate: unknown argument of "
            "ExponentialDecay (did you mean 'initial_learning_rate'?)") in message


def test_pooling_dropout_and_batch_normalization_build_and_train():
    config = load_config(ROOT / "configs/image_folder_example.yaml")
    data = DataSignature("folder", (16, 16, 3), "float32", 102)
    model = build_model(config, data)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"BatchNormalization", "MaxPooling2D", "AveragePooling2D",
            "GlobalAveragePooling2D", "Dropout"} <= kinds
    images = np.random.default_rng(0).random((8, 16, 16, 3), dtype=np.float32)
    labels = np.arange(8) % 102
    before = [weights.copy() for weights in model.get_weights()]
    model.fit(images, labels, epochs=1, batch_size=4, verbose=0)
    moving_mean = model.layers[1].moving_mean.numpy()
    assert not np.allclose(moving_mean, 0)  # BatchNormalization saw the batches
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_a_model_too_large_for_memory_is_refused_before_a_weight_is_allocated():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = mismatch("mnist_cnn.yaml", ["model.layers[6].Dense.units=1048576"], MNIST)
    assert "would have 615,569,866 weights, more than the 100,000,000" in message
    assert "the largest layer is model.layers[6].Dense with 605,028,352" in message
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500  # 605 M float32 weights would be 2.4 GB


def test_a_regularizer_with_arguments_becomes_the_keras_object():
    config = load_config(ROOT / "configs/mnist_cnn.yaml",
                         ["model.layers[6].Dense.kernel_regularizer={L2: {l2: 0.001}}"])
    model = build_model(config, MNIST)
    regularizer = model.layers[6].kernel_regularizer
    assert type(regularizer).__name__ == "L2" and regularizer.l2 == pytest.approx(0.001)
    assert len(model.losses) == 1  # the penalty is added to the loss


@pytest.mark.parametrize("layer, says", [
    ("{LayerNormalization: {axis: 7}}", "tuple index out of range"),
    ("{BatchNormalization: {axis: 5}}", "tuple index out of range"),
])
def test_a_layer_keras_refuses_only_as_it_builds_is_named_not_a_traceback(layer, says):
    """An axis past the input's was an IndexError traceback from summary and train."""
    config = load_config(ROOT / "configs" / "mnist_cnn.yaml", [f"model.layers[1]={layer}"])
    with pytest.raises(ModelDataMismatch) as caught:
        build_model(config, MNIST)
    name = layer[1:layer.index(":")]
    assert str(caught.value).startswith(
        f"model.layers[1].{name}: Keras can't build this layer with its arguments: {says}")
