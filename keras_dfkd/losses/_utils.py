"""Private helpers shared by the loss modules."""

import numbers

from keras import ops


def safe_l2_norm(x):
    """L2 norm of a tensor with a finite (zero) gradient at the origin."""
    squared = ops.sum(ops.square(x))
    positive = squared > 0.0
    safe = ops.where(positive, squared, ops.ones_like(squared))
    return ops.where(positive, ops.sqrt(safe), ops.zeros_like(squared))


def validate_temperature(temperature):
    """Returns `temperature` as a float, or raises a `ValueError`."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not float(temperature) > 0.0
    ):
        raise ValueError(
            "`temperature` must be a positive number. "
            f"Received: temperature={temperature}"
        )
    return float(temperature)
