"""Per-backend gradient plumbing, chosen at import time like Keras's trainer.

All the math lives in the methods, written once in `keras.ops`; only how
gradients are taken and applied differs per backend.
"""

import keras

_BACKEND = keras.config.backend()

if _BACKEND == "jax":
    from keras_dfkd.backend.jax import JAXDistillerStep as DistillerStep
    from keras_dfkd.backend.jax import compiled_input_gradient
    from keras_dfkd.backend.jax import cross_replica_mean
    from keras_dfkd.backend.jax import distribute_batch
    from keras_dfkd.backend.jax import gather_rows
    from keras_dfkd.backend.jax import input_gradient
    from keras_dfkd.backend.jax import needs_static_repeats
    from keras_dfkd.backend.jax import num_devices
    from keras_dfkd.backend.jax import scatter_rows
    from keras_dfkd.backend.jax import upsample_conv
elif _BACKEND == "tensorflow":
    from keras_dfkd.backend.tensorflow import (
        TensorFlowDistillerStep as DistillerStep,
    )
    from keras_dfkd.backend.tensorflow import compiled_input_gradient
    from keras_dfkd.backend.tensorflow import cross_replica_mean
    from keras_dfkd.backend.tensorflow import distribute_batch
    from keras_dfkd.backend.tensorflow import gather_rows
    from keras_dfkd.backend.tensorflow import input_gradient
    from keras_dfkd.backend.tensorflow import needs_static_repeats
    from keras_dfkd.backend.tensorflow import num_devices
    from keras_dfkd.backend.tensorflow import scatter_rows
    from keras_dfkd.backend.tensorflow import upsample_conv
else:

    def distribute_batch(x):
        return x

    def cross_replica_mean(x):
        return x

    def num_devices(model=None):
        return 1

    def needs_static_repeats(model):
        return False

    def compiled_input_gradient(fn):
        return lambda x: input_gradient(fn, x)

    def gather_rows(variable, indices):
        return keras.ops.take(variable.value, indices, axis=0)

    def scatter_rows(variable, indices, rows):
        variable.assign(
            keras.ops.scatter_update(variable.value, indices[:, None], rows)
        )

    def upsample_conv(x, kernel):
        x = keras.ops.repeat(keras.ops.repeat(x, 2, axis=1), 2, axis=2)
        return keras.ops.conv(x, kernel, padding="same")

    def input_gradient(fn, x):
        raise NotImplementedError(
            f"keras_dfkd supports the 'tensorflow' and 'jax' backends; the "
            f"active Keras backend is {_BACKEND!r}."
        )

    class DistillerStep:
        """Placeholder for backends keras_dfkd does not support yet."""

        def train_step(self, *args, **kwargs):
            raise NotImplementedError(
                f"keras_dfkd supports the 'tensorflow' and 'jax' backends; "
                f"the active Keras backend is {_BACKEND!r}. Set "
                "KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax."
            )


__all__ = [
    "DistillerStep",
    "compiled_input_gradient",
    "cross_replica_mean",
    "distribute_batch",
    "gather_rows",
    "input_gradient",
    "needs_static_repeats",
    "num_devices",
    "scatter_rows",
    "upsample_conv",
]
