"""Private helpers shared by the loss modules."""

import numbers


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
