"""The lecture's formulas as plain NumPy forward passes, written to be read.

Every function here computes what one Keras layer, loss or optimizer step computes, with
the formula from the slides in its docstring and the loops the lecture draws kept as
loops. They take weights in Keras's layouts (`layer.get_weights()`), so a trained model
can be recomputed by hand: `dlcourse explain RUN_DIR` does exactly that.

Only NumPy is imported: reading this package never starts TensorFlow.
"""

from dlcourse.reference.activations import identity, leaky_relu, relu, sigmoid, softmax, tanh
from dlcourse.reference.convolution import average_pooling2d, conv2d, max_pooling2d
from dlcourse.reference.core import dense, embedding, flatten, naive_bayes_bag
from dlcourse.reference.losses import (
    binary_crossentropy,
    categorical_crossentropy,
    mean_squared_error,
)
from dlcourse.reference.optimizers import sgd_step
from dlcourse.reference.recurrent import (
    gru,
    gru_cell,
    lstm,
    lstm_cell,
    simple_rnn,
    simple_rnn_cell,
)

__all__ = [
    "average_pooling2d",
    "binary_crossentropy",
    "categorical_crossentropy",
    "conv2d",
    "dense",
    "embedding",
    "flatten",
    "gru",
    "gru_cell",
    "identity",
    "leaky_relu",
    "lstm",
    "lstm_cell",
    "max_pooling2d",
    "mean_squared_error",
    "naive_bayes_bag",
    "relu",
    "sgd_step",
    "sigmoid",
    "simple_rnn",
    "simple_rnn_cell",
    "softmax",
    "tanh",
]
