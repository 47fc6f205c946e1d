"""One step of stochastic gradient descent with momentum and weight decay."""

from __future__ import annotations

import numpy as np


def sgd_step(
    weights: np.ndarray,
    gradient: np.ndarray,
    velocity: np.ndarray,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One SGD update; returns (new weights, new velocity). Start with velocity = 0.

    The slide writes weight decay as part of the gradient (an L2 penalty):

        velocity = momentum * velocity - lr * (grad + weight_decay * w)
        w        = w + velocity

    Keras 3's `keras.optimizers.SGD(momentum=..., weight_decay=...)` does something
    slightly different: it decays the weights directly before the momentum step
    ("decoupled" weight decay), so the decay never enters the velocity:

        w        = w - lr * weight_decay * w
        velocity = momentum * velocity - lr * grad
        w        = w + velocity

    The two agree whenever weight_decay = 0 or momentum = 0, and on the first step
    (velocity still 0). After that the slide's velocity carries past decay along, so
    with momentum the slide decays the weights about 1 / (1 - momentum) times as
    strongly as Keras does with the same weight_decay. The default here is Keras's
    form (`decoupled_weight_decay=True`), which is what training with dlcourse does;
    pass False for the slide's form. `grad` is the loss's gradient at the weights
    before this step in both forms.
    """
    if decoupled_weight_decay:
        weights = weights - learning_rate * weight_decay * weights
        velocity = momentum * velocity - learning_rate * gradient
    else:
        velocity = momentum * velocity - learning_rate * (gradient + weight_decay * weights)
    return weights + velocity, velocity
