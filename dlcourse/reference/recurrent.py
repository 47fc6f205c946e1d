"""Recurrent layers: one cell applied step by step along a sequence, carrying a state.

Inputs are (batch, time, features), as Keras gives them. Weights are in Keras's
layout: `kernel` (features, k * units) multiplies the input x_t, `recurrent_kernel`
(units, k * units) multiplies the previous state, and for LSTM and GRU the k gates
sit side by side in the columns, in Keras's order.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from dlcourse.reference.activations import sigmoid, tanh

Activation = Callable[[np.ndarray], np.ndarray]


def simple_rnn_cell(
    x_t: np.ndarray,
    state: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    activation: Activation = tanh,
) -> np.ndarray:
    """One step of Keras `SimpleRNN`: the new state, which is also the step's output.

        state_t = tanh(W x_t + U state_{t-1} + b)

    W is `kernel`, U `recurrent_kernel`. Keras multiplies rows from the left
    (x_t W + state U), the same sums as the slide's W x_t + U state.
    """
    return activation(x_t @ kernel + state @ recurrent_kernel + _or_zero(bias))


def simple_rnn(
    inputs: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    activation: Activation = tanh,
    return_sequences: bool = False,
) -> np.ndarray:
    """Keras `SimpleRNN`: the lecture's loop over time steps.

        state_t = 0
        for input_t in input_sequence:
            output_t = tanh(W input_t + U state_t + b)
            state_t = output_t

    Returns the last output (batch, units), or every output (batch, time, units) with
    `return_sequences=True`, which is what a second recurrent layer stacked on top needs.
    """
    step = partial(
        simple_rnn_cell,
        kernel=kernel,
        recurrent_kernel=recurrent_kernel,
        bias=bias,
        activation=activation,
    )
    state = _zeros(inputs, recurrent_kernel)
    return _unroll(step, inputs, state, return_sequences)


def lstm_cell(
    x_t: np.ndarray,
    state: tuple[np.ndarray, np.ndarray],
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    activation: Activation = tanh,
    recurrent_activation: Activation = sigmoid,
) -> tuple[np.ndarray, np.ndarray]:
    """One step of Keras `LSTM`: from (h_{t-1}, c_{t-1}) to (h_t, c_t).

        i_t  = sigmoid(W_i x_t + U_i h_{t-1} + b_i)        input gate
        f_t  = sigmoid(W_f x_t + U_f h_{t-1} + b_f)        forget gate
        c~_t = tanh(W_c x_t + U_c h_{t-1} + b_c)           candidate values
        o_t  = sigmoid(W_o x_t + U_o h_{t-1} + b_o)        output gate
        c_t  = f_t * c_{t-1} + i_t * c~_t                  the carry (cell state)
        h_t  = o_t * tanh(c_t)                             output and hidden state

    Keras stores the four W (and U, b) side by side in the order i, f, c, o:
    columns [0, units) belong to the input gate, [units, 2 units) to the forget gate, ...
    """
    h, c = state
    gates = x_t @ kernel + h @ recurrent_kernel + _or_zero(bias)
    i, f, candidate, o = np.split(gates, 4, axis=-1)
    c = recurrent_activation(f) * c + recurrent_activation(i) * activation(candidate)
    h = recurrent_activation(o) * activation(c)
    return h, c


def lstm(
    inputs: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    activation: Activation = tanh,
    recurrent_activation: Activation = sigmoid,
    return_sequences: bool = False,
) -> np.ndarray:
    """Keras `LSTM`: `lstm_cell` applied along the sequence, h and c starting at 0.

    Returns h of the last step, or h of every step with `return_sequences=True`.
    """
    step = partial(
        lstm_cell,
        kernel=kernel,
        recurrent_kernel=recurrent_kernel,
        bias=bias,
        activation=activation,
        recurrent_activation=recurrent_activation,
    )
    state = (_zeros(inputs, recurrent_kernel), _zeros(inputs, recurrent_kernel))
    return _unroll(step, inputs, state, return_sequences)


def gru_cell(
    x_t: np.ndarray,
    state: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    activation: Activation = tanh,
    recurrent_activation: Activation = sigmoid,
    reset_after: bool = True,
) -> np.ndarray:
    """One step of Keras `GRU`: from h_{t-1} to h_t.

        z_t  = sigmoid(W_z x_t + U_z h_{t-1} + b_z)              update gate
        r_t  = sigmoid(W_r x_t + U_r h_{t-1} + b_r)              reset gate
        h~_t = tanh(W_h x_t + r_t * (U_h h_{t-1} + b'_h) + b_h)  candidate (reset_after=True)
        h~_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)         candidate (reset_after=False)
        h_t  = z_t * h_{t-1} + (1 - z_t) * h~_t

    The gates sit in the columns in the order z, r, h. Keras's default,
    `reset_after=True` (the form cuDNN computes), applies the reset gate after the
    recurrent product and has two biases, `bias` of shape (2, 3 units): row 0 is added
    to the input part, row 1 (b') to the recurrent part. `reset_after=False` is the
    original GRU of Cho et al. (2014), with one bias of shape (3 units,).
    Keras keeps the old state where z is 1; some texts swap z and 1 - z.
    """
    if bias is None:
        input_bias, recurrent_bias = 0.0, 0.0
    elif reset_after:
        input_bias, recurrent_bias = bias
    else:
        input_bias, recurrent_bias = bias, 0.0
    x_z, x_r, x_h = np.split(x_t @ kernel + input_bias, 3, axis=-1)
    if reset_after:
        h_z, h_r, h_h = np.split(state @ recurrent_kernel + recurrent_bias, 3, axis=-1)
        z = recurrent_activation(x_z + h_z)
        r = recurrent_activation(x_r + h_r)
        candidate = activation(x_h + r * h_h)
    else:
        u_z, u_r, u_h = np.split(recurrent_kernel, 3, axis=-1)
        z = recurrent_activation(x_z + state @ u_z)
        r = recurrent_activation(x_r + state @ u_r)
        candidate = activation(x_h + (r * state) @ u_h)
    return z * state + (1 - z) * candidate


def gru(
    inputs: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None = None,
    activation: Activation = tanh,
    recurrent_activation: Activation = sigmoid,
    reset_after: bool = True,
    return_sequences: bool = False,
) -> np.ndarray:
    """Keras `GRU`: `gru_cell` applied along the sequence, h starting at 0."""
    step = partial(
        gru_cell,
        kernel=kernel,
        recurrent_kernel=recurrent_kernel,
        bias=bias,
        activation=activation,
        recurrent_activation=recurrent_activation,
        reset_after=reset_after,
    )
    state = _zeros(inputs, recurrent_kernel)
    return _unroll(step, inputs, state, return_sequences)


def _unroll(step, inputs: np.ndarray, state, return_sequences: bool) -> np.ndarray:
    """The loop every recurrent layer shares: feed x_1, x_2, ... in order, carrying the state.

    The output of a step is its hidden state h (for an LSTM, the first of (h, c)).
    """
    outputs = []
    for t in range(inputs.shape[1]):
        state = step(inputs[:, t, :], state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return np.stack(outputs, axis=1) if return_sequences else outputs[-1]


def _zeros(inputs: np.ndarray, recurrent_kernel: np.ndarray) -> np.ndarray:
    """The initial state: zeros of shape (batch, units)."""
    return np.zeros((len(inputs), recurrent_kernel.shape[0]), dtype=inputs.dtype)


def _or_zero(bias: np.ndarray | None):
    return 0.0 if bias is None else bias
