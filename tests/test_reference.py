"""The NumPy reference against Keras: same weights, same random inputs, same numbers.

Every function is checked against the Keras layer, loss or optimizer it explains, to a
maximum absolute difference of 1e-5 on float32 inputs.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from dlcourse import reference

from helpers import ROOT

TOLERANCE = 1e-5
RNG = np.random.default_rng(8)


def random(*shape, scale=1.0):
    return (scale * RNG.normal(size=shape)).astype("float32")


def assert_close(actual, expected):
    expected = keras.ops.convert_to_numpy(expected)
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= TOLERANCE


def keras_output(layer, x):
    """Build a Keras layer for `x`, give all its weights (biases too) random values,
    and return its output on `x` with those weights."""
    layer.build(x.shape)
    weights = [random(*w.shape, scale=0.5) for w in layer.get_weights()]
    layer.set_weights(weights)
    return layer(x), weights


def test_importing_the_reference_does_not_import_tensorflow_or_keras():
    # Run from the checkout's root so that this checkout's dlcourse is the one imported.
    script = "import json, sys, dlcourse.reference; print(json.dumps(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    modules = {name.split(".")[0] for name in json.loads(loaded)}
    assert "numpy" in modules and "dlcourse.reference.recurrent" in json.loads(loaded)
    assert not modules & {"tensorflow", "keras", "tf_keras", "jax", "torch"}


# --------------------------------------------------------------------------- activations


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (reference.relu, keras.activations.relu),
        (reference.tanh, keras.activations.tanh),
        (reference.sigmoid, keras.activations.sigmoid),
        (reference.softmax, keras.activations.softmax),
        (reference.leaky_relu, keras.layers.LeakyReLU()),
        (lambda x: reference.leaky_relu(x, 0.1), keras.layers.LeakyReLU(negative_slope=0.1)),
    ],
    ids=["relu", "tanh", "sigmoid", "softmax", "leaky_relu", "leaky_relu_0.1"],
)
def test_activations_match_keras_including_large_inputs(ours, theirs):
    x = np.concatenate([random(4, 10), random(4, 10, scale=40.0)])
    assert_close(ours(x), theirs(x))


def test_softmax_gives_probabilities():
    probabilities = reference.softmax(random(5, 7, scale=100.0))
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-6)


# --------------------------------------------------------------------------- convolution


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    "kernel_size, strides", [(3, 1), (3, 2), ((2, 3), (2, 1)), (4, 3)]
)
def test_conv2d_matches_keras(kernel_size, strides, padding):
    x = random(2, 9, 8, 3)
    layer = keras.layers.Conv2D(
        4, kernel_size, strides=strides, padding=padding, activation="relu"
    )
    expected, (kernel, bias) = keras_output(layer, x)
    ours = reference.conv2d(
        x, kernel, bias, strides=strides, padding=padding, activation=reference.relu
    )
    assert_close(ours, expected)


def test_conv2d_of_the_lecture_curve_detector_gives_6600_on_the_curve_and_0_off_it():
    """The slide's curve detector, as one 7x7 filter on one grayscale image.

    The filter holds 30 at seven pixels along a curve and 0 elsewhere. The left 7x7
    region of the image draws the curve: 50 at four of the filter's curve pixels and
    20 at a fifth (the stroke fades out), plus some ink next to the curve where the
    filter is 0. Only the five overlapping pixels count:

        4 * (50 * 30) + 1 * (20 * 30) = 6000 + 600 = 6600

    Moved to the right edge, the filter sits over a flat, empty background crossed by a
    vertical stroke that misses every curve pixel, so every product is 0 and the
    response is 0: a large number means "this shape is here", 0 means "not here".
    """
    curve = [(5, 1), (4, 1), (3, 2), (2, 3), (2, 4), (1, 5), (1, 6)]
    kernel = np.zeros((7, 7, 1, 1), dtype="float32")
    for row, column in curve:
        kernel[row, column, 0, 0] = 30
    image = np.zeros((1, 7, 14, 1), dtype="float32")
    for row, column in curve[1:5]:
        image[0, row, column, 0] = 50
    image[0, 1, 5, 0] = 20
    image[0, 3, 1, 0] = image[0, 4, 2, 0] = 50  # ink beside the curve: filter weight 0
    image[0, 2:7, 13, 0] = 50  # the stroke in the right region, off the curve

    responses = reference.conv2d(image, kernel)

    assert responses.shape == (1, 1, 8, 1)
    assert responses[0, 0, 0, 0] == 6600
    assert responses[0, 0, 7, 0] == 0
    keras_responses = keras.ops.conv(image, kernel, padding="valid")
    assert_close(responses, keras_responses)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size, strides", [(2, None), (3, None), (3, 1), ((2, 3), (1, 2))])
@pytest.mark.parametrize(
    "ours, keras_layer",
    [
        (reference.max_pooling2d, keras.layers.MaxPooling2D),
        (reference.average_pooling2d, keras.layers.AveragePooling2D),
    ],
    ids=["max", "average"],
)
def test_pooling_matches_keras(ours, keras_layer, pool_size, strides, padding):
    x = random(2, 7, 8, 3)
    expected = keras_layer(pool_size, strides=strides, padding=padding)(x)
    assert_close(ours(x, pool_size, strides, padding), expected)


def test_max_pooling_keeps_the_largest_value_of_each_window():
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(reference.max_pooling2d(x)[0, :, :, 0], [[5, 7], [13, 15]])


# --------------------------------------------------------------------------- core layers


def test_dense_matches_keras():
    x = random(5, 12)
    expected, (kernel, bias) = keras_output(keras.layers.Dense(7, activation="softmax"), x)
    assert_close(reference.dense(x, kernel, bias, reference.softmax), expected)


def test_flatten_matches_keras_order():
    x = random(3, 4, 5, 2)
    assert_close(reference.flatten(x), keras.layers.Flatten()(x))


def test_embedding_matches_keras():
    indices = RNG.integers(0, 50, size=(4, 9)).astype("int32")
    expected, (table,) = keras_output(keras.layers.Embedding(50, 6), indices)
    assert_close(reference.embedding(indices, table), expected)


def test_naive_bayes_bag_matches_dlcourse_layer():
    from dlcourse.layers import NaiveBayesBag, log_count_ratios

    # Repeats and padding in every row: each token must count once, padding never.
    indices = RNG.integers(0, 12, size=(6, 15)).astype("int32")
    indices[:, -4:] = 0
    layer = NaiveBayesBag(12, output_dim=3, embeddings_initializer="random_normal")
    layer.build(indices.shape)
    layer.fit_ratios(indices, np.arange(6) % 2)
    table, ratios = (np.asarray(weight) for weight in layer.weights)
    np.testing.assert_allclose(ratios[:, 0], log_count_ratios(indices, np.arange(6) % 2, 12))
    assert_close(reference.naive_bayes_bag(indices, table, ratios), layer(indices))


# --------------------------------------------------------------------------- recurrent layers


@pytest.mark.parametrize("return_sequences", [False, True])
def test_simple_rnn_matches_keras(return_sequences):
    x = random(3, 6, 5)
    layer = keras.layers.SimpleRNN(4, return_sequences=return_sequences)
    expected, (kernel, recurrent_kernel, bias) = keras_output(layer, x)
    ours = reference.simple_rnn(
        x, kernel, recurrent_kernel, bias, return_sequences=return_sequences
    )
    assert_close(ours, expected)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_lstm_matches_keras(return_sequences):
    x = random(3, 6, 5)
    layer = keras.layers.LSTM(4, return_sequences=return_sequences)
    expected, (kernel, recurrent_kernel, bias) = keras_output(layer, x)
    ours = reference.lstm(x, kernel, recurrent_kernel, bias, return_sequences=return_sequences)
    assert_close(ours, expected)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_gru_matches_keras(reset_after, return_sequences):
    x = random(3, 6, 5)
    layer = keras.layers.GRU(4, reset_after=reset_after, return_sequences=return_sequences)
    expected, (kernel, recurrent_kernel, bias) = keras_output(layer, x)
    assert bias.shape == ((2, 12) if reset_after else (12,))
    ours = reference.gru(
        x,
        kernel,
        recurrent_kernel,
        bias,
        reset_after=reset_after,
        return_sequences=return_sequences,
    )
    assert_close(ours, expected)


def test_recurrent_layers_without_bias_match_keras():
    x = random(2, 5, 3)
    for keras_layer, ours in [
        (keras.layers.SimpleRNN, reference.simple_rnn),
        (keras.layers.LSTM, reference.lstm),
        (keras.layers.GRU, reference.gru),
    ]:
        expected, (kernel, recurrent_kernel) = keras_output(keras_layer(4, use_bias=False), x)
        assert_close(ours(x, kernel, recurrent_kernel), expected)


def test_lstm_forget_gate_columns_are_the_second_quarter():
    """Keras's gate order i, f, c, o: a hugely negative bias in the second quarter closes
    the forget gate, so the carry is wiped and the output after two steps depends only
    on the second input (and is not zero: the input gate is still open)."""
    units = 3
    kernel, recurrent_kernel = random(2, 4 * units), random(units, 4 * units)
    bias = np.zeros(4 * units, dtype="float32")
    bias[units : 2 * units] = -1e4
    no_recurrence = np.zeros_like(recurrent_kernel)
    first, other_first, second = random(1, 1, 2), random(1, 1, 2), random(1, 1, 2)
    one = reference.lstm(np.concatenate([first, second], 1), kernel, no_recurrence, bias)
    two = reference.lstm(np.concatenate([other_first, second], 1), kernel, no_recurrence, bias)
    np.testing.assert_allclose(one, two, atol=1e-7)
    assert np.max(np.abs(one)) > 1e-3


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (reference.binary_crossentropy, keras.losses.binary_crossentropy),
        (reference.categorical_crossentropy, keras.losses.categorical_crossentropy),
        (reference.mean_squared_error, keras.losses.mean_squared_error),
    ],
    ids=["binary_crossentropy", "categorical_crossentropy", "mean_squared_error"],
)
def test_losses_match_keras(ours, theirs):
    if ours is reference.binary_crossentropy:
        y_true = RNG.integers(0, 2, size=(8, 3)).astype("float32")
        y_pred = reference.sigmoid(random(8, 3, scale=3.0))
        y_pred[0] = [0.0, 1.0, 0.5]  # certain answers: Keras clips before the logarithm
    else:
        y_true = np.eye(5, dtype="float32")[RNG.integers(0, 5, size=8)]
        y_pred = reference.softmax(random(8, 5, scale=3.0))
        y_pred[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # log(0) avoided by the same clipping
    assert_close(ours(y_true, y_pred), theirs(y_true, y_pred))


# --------------------------------------------------------------------------- SGD


@pytest.mark.parametrize(
    "momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.1), (0.9, 0.1)]
)
def test_sgd_steps_match_keras(momentum, weight_decay):
    weights = random(4, 3)
    variable = keras.Variable(weights)
    optimizer = keras.optimizers.SGD(
        learning_rate=0.1, momentum=momentum, weight_decay=weight_decay or None
    )
    velocity = np.zeros_like(weights)
    for _ in range(4):
        gradient = random(4, 3)
        optimizer.apply([gradient], [variable])
        weights, velocity = reference.sgd_step(
            weights, gradient, velocity, 0.1, momentum, weight_decay
        )
        assert_close(weights, variable.value)


def test_slide_and_keras_weight_decay_agree_on_the_first_step_and_then_differ():
    settings = dict(learning_rate=0.1, momentum=0.9, weight_decay=0.1)
    keras_weights = slide_weights = random(4, 3)
    keras_velocity = slide_velocity = np.zeros_like(keras_weights)
    differences = []
    for gradient in (random(4, 3), random(4, 3)):
        keras_weights, keras_velocity = reference.sgd_step(
            keras_weights, gradient, keras_velocity, **settings
        )
        slide_weights, slide_velocity = reference.sgd_step(
            slide_weights, gradient, slide_velocity, **settings, decoupled_weight_decay=False
        )
        differences.append(np.max(np.abs(keras_weights - slide_weights)))
    assert differences[0] <= 1e-6  # the same sum, rounded in another order
    assert differences[1] > 1e-3
