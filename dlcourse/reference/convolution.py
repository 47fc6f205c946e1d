"""Convolution and pooling over image volumes of shape (batch, height, width, channels).

The layout is Keras's default, channels last. Both slide a window over the image; a
convolution takes a weighted sum of each window, a pooling layer its maximum or mean.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from dlcourse.reference.activations import identity

Size = int | tuple[int, int]


def conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    strides: Size = 1,
    padding: str = "valid",
    activation: Callable[[np.ndarray], np.ndarray] = identity,
) -> np.ndarray:
    """A 2D convolution layer (Keras `Conv2D`): one output channel per filter.

        out[n, i, j, f] = activation(b[f] + sum_{a,b,c} x[n, i*s + a, j*s + b, c] K[a, b, c, f])

    `x` is (batch, height, width, in_channels) and `kernel` is Keras's
    (kernel_height, kernel_width, in_channels, filters): every filter spans all input
    channels, so a 3x3 filter over an RGB image has 3*3*3 weights (plus one bias).
    Like Keras (and every deep learning library), this is a cross-correlation: the filter
    is not flipped. With padding 'valid' the filter stays inside the image; with 'same'
    zeros are added around it so that the output has ceil(size / stride) positions.
    """
    filters = kernel.shape[-1]
    padded = _padded(x, kernel.shape[:2], strides, padding, fill=0.0)
    out_height, out_width = _output_size(padded, kernel.shape[:2], strides)
    out = np.zeros((len(x), out_height, out_width, filters), dtype=np.result_type(x, kernel))
    for i, j, window in _windows(padded, kernel.shape[:2], strides):
        # The filter's weighted sum of this window, for all filters at once:
        # sum over the window's height, width and channels (the first 3 axes of K).
        out[:, i, j, :] = np.tensordot(window, kernel, axes=3)
    if bias is not None:
        out = out + bias
    return activation(out)


def max_pooling2d(
    x: np.ndarray, pool_size: Size = 2, strides: Size | None = None, padding: str = "valid"
) -> np.ndarray:
    """Max pooling (Keras `MaxPooling2D`): the largest value of each window, per channel.

        out[n, i, j, c] = max_{a, b} x[n, i*s + a, j*s + b, c]

    Without `strides` the windows don't overlap (strides = pool_size), so a 2x2 pool
    halves height and width, dropping a last odd row or column with padding 'valid'.
    """
    return _pool(x, pool_size, strides, padding, np.nanmax)


def average_pooling2d(
    x: np.ndarray, pool_size: Size = 2, strides: Size | None = None, padding: str = "valid"
) -> np.ndarray:
    """Average pooling (Keras `AveragePooling2D`): the mean of each window, per channel.

        out[n, i, j, c] = mean_{a, b} x[n, i*s + a, j*s + b, c]

    With padding 'same', padded positions are left out of the mean, as TensorFlow does:
    a corner window that holds 2 real pixels is divided by 2, not by the window's size.
    """
    return _pool(x, pool_size, strides, padding, np.nanmean)


def _pool(x, pool_size, strides, padding, reduce) -> np.ndarray:
    window_size = _pair(pool_size)
    strides = window_size if strides is None else strides
    # Padding is NaN, which nanmax and nanmean skip: it never wins a max or counts in a mean.
    padded = _padded(x, window_size, strides, padding, fill=np.nan)
    out_height, out_width = _output_size(padded, window_size, strides)
    out = np.zeros((len(x), out_height, out_width, x.shape[-1]), dtype=x.dtype)
    for i, j, window in _windows(padded, window_size, strides):
        out[:, i, j, :] = reduce(window, axis=(1, 2))
    return out


def _windows(
    x: np.ndarray, window_size: Size, strides: Size
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Each output position (i, j) and the window x[:, i*s : i*s + k, j*s : j*s + k, :]."""
    (k_h, k_w), (s_h, s_w) = _pair(window_size), _pair(strides)
    out_height, out_width = _output_size(x, window_size, strides)
    for i in range(out_height):
        for j in range(out_width):
            yield i, j, x[:, i * s_h : i * s_h + k_h, j * s_w : j * s_w + k_w, :]


def _output_size(x: np.ndarray, window_size: Size, strides: Size) -> tuple[int, int]:
    """How many windows fit along height and width: floor((size - k) / s) + 1."""
    (k_h, k_w), (s_h, s_w) = _pair(window_size), _pair(strides)
    return (x.shape[1] - k_h) // s_h + 1, (x.shape[2] - k_w) // s_w + 1


def _padded(x: np.ndarray, window_size: Size, strides: Size, padding: str, fill: float):
    """`x` as a convolution or pooling with this padding sees it.

    'same' pads so that ceil(size / stride) windows fit; when the padding is odd, the
    extra row or column goes at the bottom or right (TensorFlow's convention).
    """
    if padding == "valid":
        return x
    if padding != "same":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    pads = [(0, 0)]
    for size, k, s in zip(x.shape[1:3], _pair(window_size), _pair(strides)):
        outputs = -(-size // s)  # ceil(size / s)
        total = max((outputs - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    pads.append((0, 0))
    return np.pad(x.astype(np.result_type(x, np.float32)), pads, constant_values=fill)


def _pair(value: Size) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)
