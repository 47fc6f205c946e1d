"""Activation functions, applied element by element (softmax: along the last axis)."""

from __future__ import annotations

import numpy as np


def identity(x: np.ndarray) -> np.ndarray:
    """linear(x) = x: what a layer does with `activation=None`."""
    return x


def relu(x: np.ndarray) -> np.ndarray:
    """ReLU(x) = max(0, x)."""
    return np.maximum(x, 0)


def leaky_relu(x: np.ndarray, negative_slope: float = 0.3) -> np.ndarray:
    """LeakyReLU(x) = x if x >= 0 else negative_slope * x.

    The default slope 0.3 is the one of Keras's `LeakyReLU` layer (the function
    `keras.ops.leaky_relu` uses 0.2): a small slope keeps a gradient for negative inputs.
    """
    return np.where(x >= 0, x, negative_slope * x)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = (e^x - e^-x) / (e^x + e^-x), squashing into (-1, 1)."""
    return np.tanh(x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigma(x) = 1 / (1 + e^-x), squashing into (0, 1).

    Written as 0.5 * (1 + tanh(x / 2)), the same function, because 1 / (1 + e^-x)
    overflows in e^-x for very negative x.
    """
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax(x)_k = e^{x_k} / sum_j e^{x_j}: scores to probabilities that sum to 1.

    Subtracting max(x) first changes nothing mathematically (it cancels in the ratio)
    but keeps e^x from overflowing.
    """
    exponentials = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return exponentials / np.sum(exponentials, axis=axis, keepdims=True)
