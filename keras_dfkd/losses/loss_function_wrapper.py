"""`LossFunctionWrapper`: a `keras.losses.Loss` around a loss function."""

import keras


class LossFunctionWrapper(keras.losses.Loss):
    """Wraps a per-sample loss function as a `keras.losses.Loss`.

    Like Keras's own wrapper (which Keras 3 does not export): `call`
    applies `fn(y_true, y_pred, **kwargs)` and `get_config` returns the
    keyword arguments, so a subclass is its constructor and docstring.

    Args:
        fn: callable `(y_true, y_pred, **kwargs)` returning per-sample
            losses (or a batch-level scalar).
        reduction: as in `keras.losses.Loss`. Defaults to
            `"sum_over_batch_size"`.
        name: str or `None`.
        dtype: dtype of the loss's computations, or `None`
            (`keras.backend.floatx()`).
        **kwargs: keyword arguments of `fn`, kept by `get_config`.
    """

    def __init__(
        self,
        fn,
        reduction="sum_over_batch_size",
        name=None,
        dtype=None,
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(self.fn_kwargs)
        config["dtype"] = self.dtype
        return config


def predictions_only(fn):
    """`(y_true, y_pred) -> fn(y_pred)`, for losses of the logits alone."""

    def loss(y_true, y_pred):
        del y_true
        return fn(y_pred)

    loss.__name__ = fn.__name__
    return loss
