"""NonFiniteGuard: NaN injection is caught, named and rolled back."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.testing import small_net


class InjectNaN(keras.callbacks.Callback):
    """Poisons the student's logits layer at the start of epoch `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.before = None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.before = [
                keras.ops.convert_to_numpy(v.value).copy()
                for v in self.model.variables
            ]
            kernel = self.model.student.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def make_distiller():
    keras.utils.set_random_seed(0)
    distiller = keras_dfkd.DataFreeDistiller(
        small_net(8, "teacher"),
        small_net(4, "student"),
        keras_dfkd.methods.DFAD(
            batch_size=8, latent_dim=8, generator_width=4, student_steps=1
        ),
    )
    distiller.compile()
    return distiller


def test_nan_is_caught_named_and_rolled_back():
    distiller = make_distiller()
    guard = keras_dfkd.callbacks.NonFiniteGuard()
    inject = InjectNaN(epoch=2)
    distiller.fit(
        steps=5, steps_per_epoch=1, callbacks=[guard, inject], verbose=0
    )
    assert guard.failure["round"] == 3
    assert "student_loss" in guard.failure["terms"]
    assert "generator_loss" in guard.failure["terms"]
    # Back to the state at the end of epoch 2, before the poison.
    for variable, value in zip(distiller.variables, inject.before):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(variable.value), value, variable.path
        )


def test_raise_error_names_the_terms():
    distiller = make_distiller()
    guard = keras_dfkd.callbacks.NonFiniteGuard(raise_error=True)
    with pytest.raises(FloatingPointError, match="student_loss"):
        distiller.fit(
            steps=3,
            steps_per_epoch=1,
            callbacks=[guard, InjectNaN(epoch=1)],
            verbose=0,
        )
