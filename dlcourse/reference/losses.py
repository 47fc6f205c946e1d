"""Losses, one value per example, as Keras's loss functions return them.

Keras's `model.compile(loss=...)` then averages these over the batch.
"""

from __future__ import annotations

import numpy as np

# Keras clips probabilities to [EPSILON, 1 - EPSILON] before taking logarithms,
# so a confident wrong answer costs about 16 rather than infinity.
EPSILON = 1e-7


def binary_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of probabilities y_pred (after a sigmoid) and 0/1 targets.

        L = -mean_k [ y_k log(p_k) + (1 - y_k) log(1 - p_k) ]

    The mean runs over the last axis (one output per example in the lecture's IMDB
    models, so it is just that output's loss).
    """
    p = np.clip(y_pred, EPSILON, 1 - EPSILON)
    return -np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p), axis=-1)


def categorical_crossentropy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy of one-hot targets and probabilities (after a softmax).

        L = -sum_k y_k log(p_k)

    With one-hot targets only the true class's term remains: -log(probability of the
    true class). Keras first rescales p to sum to 1 (it already does after a softmax).
    """
    p = y_pred / np.sum(y_pred, axis=-1, keepdims=True)
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return -np.sum(y_true * np.log(p), axis=-1)


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """MSE = mean_k (y_k - p_k)^2, over the last axis."""
    return np.mean((y_true - y_pred) ** 2, axis=-1)
