"""The layers between the others: Dense, Flatten and the Embedding lookup."""

from __future__ import annotations

from typing import Callable

import numpy as np

from dlcourse.reference.activations import identity


def dense(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    activation: Callable[[np.ndarray], np.ndarray] = identity,
) -> np.ndarray:
    """A fully connected layer (Keras `Dense`): every output sees every input.

        y = activation(x W + b),   y_k = activation( sum_j x_j W[j, k] + b_k )

    The slides write W x + b with x a column vector; Keras stores W as
    (inputs, units) and multiplies a row of inputs from the left, x W, which is the
    same sum. A batch of rows is multiplied at once.
    """
    out = x @ kernel
    if bias is not None:
        out = out + bias
    return activation(out)


def flatten(x: np.ndarray) -> np.ndarray:
    """Keras `Flatten`: each example's volume as one vector, (batch, h, w, c) -> (batch, h*w*c).

    The order is row by row, channels innermost (NumPy's and Keras's order), so the
    Dense layer after it finds its weights where it expects them.
    """
    return x.reshape(len(x), -1)


def embedding(indices: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Keras `Embedding`: word index k becomes row k of a learned table.

        out[n, t, :] = E[indices[n, t], :]

    `table` is (vocabulary size, output_dim). Looking up row k is the same as
    multiplying the one-hot vector of k by the table, without building the one-hot vector.
    """
    return table[indices]


def naive_bayes_bag(indices: np.ndarray, weights: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """dlcourse's `NaiveBayesBag` (NBSVM's features, Wang and Manning 2012): the sum, over
    the distinct tokens j of a text, of its learned weights scaled by its log-count ratio.

        out[n, :] = sum over distinct j in indices[n], j != 0, of r_j * W[j, :]
        r_j = log( (p_j / sum p) / (q_j / sum q) )

    p_j (q_j) is 1 plus the number of positive (negative) training texts holding token j,
    so r_j > 0 for a token more frequent in positive texts. Index 0 is padding.
    """
    out = np.zeros((len(indices), weights.shape[1]), dtype=weights.dtype)
    for row, text in enumerate(indices):
        tokens = np.unique(text)
        tokens = tokens[tokens != 0]
        out[row] = (ratios[tokens] * weights[tokens]).sum(axis=0)
    return out
