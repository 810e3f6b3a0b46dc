"""Checking, storing and serializing constructor arguments."""

import inspect

import keras
import numpy as np


def check_int(name, value, minimum=1):
    """Raises a clear `ValueError` unless `value` is an int >= `minimum`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an int >= {minimum}; received {value!r}."
        )


def check_hyperparameters(config, owner):
    """Refuses non-positive temperatures and learning rates in a config.

    Every `*temperature` and `*learning_rate` entry must be a positive
    number (`min_*` ones, `*weight_decay` and loss weights `*_weight` may
    be 0): a temperature of 0 divides by zero, a negative learning rate
    climbs the loss and a negative loss weight turns its term around.
    """
    for name, value in config.items():
        if value is None or not name.endswith(
            ("temperature", "learning_rate", "weight_decay", "_weight")
        ):
            continue
        floor_allowed = name.startswith("min_") or name.endswith(
            ("decay", "_weight")
        )
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or value < 0 or (value == 0 and not floor_allowed):
            bound = ">= 0" if floor_allowed else "> 0"
            raise ValueError(
                f"{owner}: `{name}` must be a number {bound}; received "
                f"{value!r}."
            )


def derived_seed(seed, offset):
    """`seed + offset`, or `None` for an unseeded owner.

    Gives sub-layers (pools, augmentations) their own random streams:
    equal seeds would draw the same random bits for, e.g., pool indices
    and crop offsets.
    """
    return None if seed is None else seed + offset


def deserialize_layer(layer):
    """A layer, or `None`, from a constructor argument or its config."""
    if isinstance(layer, dict):
        return keras.saving.deserialize_keras_object(layer)
    return layer


def serialize_layer(layer):
    """The config of a layer argument; `None` and strings stay as they are."""
    if layer is None or isinstance(layer, str):
        return layer
    return keras.saving.serialize_keras_object(layer)


def constructor_arguments(cls):
    """`{name: default}` of `cls.__init__`'s arguments, without `**kwargs`.

    Arguments without a default map to `inspect.Parameter.empty`.
    """
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def store_arguments(owner, values, positive=(), non_negative=(), **replaced):
    """Checks `owner`'s constructor arguments and keeps each as an attribute.

    Every argument of `type(owner).__init__` is set as the attribute of
    its name, from `replaced` when given there (e.g. a deserialized layer)
    and otherwise from `values` (the constructor's `locals()`), so that a
    config can read them all back (see `config_value`).

    Args:
        owner: the object under construction.
        values: dict, the constructor's `locals()`.
        positive: names of arguments that must be ints >= 1.
        non_negative: names of arguments that must be ints >= 0.
        **replaced: values that replace those in `values`.

    An argument whose default is `None` may be `None`. Temperatures,
    learning rates and weight decays are checked by
    `check_hyperparameters`.
    """
    arguments = constructor_arguments(type(owner))
    values = {**values, **replaced}
    for minimum, names in ((1, positive), (0, non_negative)):
        for name in names:
            if values[name] is None and arguments[name] is None:
                continue
            check_int(name, values[name], minimum)
    check_hyperparameters(
        {name: values[name] for name in arguments}, type(owner).__name__
    )
    for name in arguments:
        setattr(owner, name, values[name])


def config_value(value):
    """A constructor argument as a config entry (layers serialized)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, keras.layers.Layer):
        return serialize_layer(value)
    return value
