"""The student's BatchNorm statistics, re-estimated on synthetic images."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.callbacks.student_batch_norm_calibration import (
    batch_norm_layers,
)
from keras_dfkd.testing import to_numpy

SIZE = 12

pytestmark = pytest.mark.usefixtures("fast_jax_compilation")


def teacher_net():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="teacher")


def nested_student():
    """A BN layer at the top and one inside a nested Functional base."""
    base_in = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(base_in)
    x = keras.layers.BatchNormalization(name="inner_bn")(x)
    base = keras.Model(base_in, keras.layers.ReLU()(x), name="base")
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs))
    x = keras.layers.BatchNormalization(name="top_bn")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="student")


def distiller_with(student):
    method = keras_dfkd.methods.DAFL(
        batch_size=8, generator_width=4, latent_dim=8, seed=1
    )
    distiller = keras_dfkd.DataFreeDistiller(teacher_net(), student, method)
    distiller.compile()
    return distiller


class FixedImages:
    """Stands in for `method.generate`: the same two batches in turn."""

    def __init__(self, batches):
        self.batches, self.calls = batches, []

    def __call__(self, batch_size, training=False):
        self.calls.append((batch_size, training))
        return self.batches[(len(self.calls) - 1) % len(self.batches)]


def test_statistics_are_the_mean_over_synthetic_batches(monkeypatch):
    keras.utils.set_random_seed(0)
    distiller = distiller_with(nested_student())
    rng = np.random.default_rng(0)
    batches = [
        rng.normal(size=(8, SIZE, SIZE, 1)).astype("float32"),
        rng.normal(2.0, 3.0, size=(8, SIZE, SIZE, 1)).astype("float32"),
    ]
    fixed = FixedImages(batches)
    monkeypatch.setattr(distiller.method, "generate", fixed)
    inner = distiller.student.get_layer("base").get_layer("inner_bn")
    for layer in batch_norm_layers(distiller.student):
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 50.0))
    method_bn = batch_norm_layers(distiller.method)
    method_before = [to_numpy(layer.moving_mean) for layer in method_bn]

    callback = keras_dfkd.callbacks.StudentBatchNormCalibration(batches=2)
    callback.set_model(distiller)
    updated = callback.calibrate()

    assert {layer.name for layer in updated} == {"inner_bn", "top_bn"}
    assert fixed.calls == [(8, True), (8, True)]
    conv = distiller.student.get_layer("base").get_layer("conv")
    activations = [to_numpy(conv(x)).reshape(-1, 4) for x in batches]
    np.testing.assert_allclose(
        to_numpy(inner.moving_mean),
        np.mean([a.mean(0) for a in activations], axis=0),
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        to_numpy(inner.moving_variance),
        np.mean([a.var(0) for a in activations], axis=0),
        rtol=1e-3,
        atol=1e-5,
    )
    # The layers keep their own momentum; the method's BN is untouched.
    assert all(layer.momentum == 0.99 for layer in updated)
    for layer, before in zip(method_bn, method_before):
        np.testing.assert_array_equal(to_numpy(layer.moving_mean), before)


def test_fit_calibrates_by_default_and_batches_zero_turns_it_off():
    keras.utils.set_random_seed(0)
    for callbacks, expect_changed in (
        ([], True),
        ([keras_dfkd.callbacks.StudentBatchNormCalibration(batches=0)], False),
    ):
        distiller = distiller_with(nested_student())
        top = distiller.student.get_layer("top_bn")
        distiller.fit(steps=1, verbose=0, callbacks=callbacks)
        # A marker: one training step at momentum 0.99 moves it by ~1 %,
        # a calibration replaces it with the synthetic images' statistics.
        top.moving_mean.assign(np.full(top.moving_mean.shape, 50.0))
        distiller.fit(steps=1, verbose=0, callbacks=list(callbacks))
        changed = not np.allclose(to_numpy(top.moving_mean), 50.0, atol=1.0)
        assert changed == expect_changed


def test_student_without_batch_norm_is_left_alone():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    student = keras.Model(inputs, keras.layers.Dense(10)(x))
    distiller = distiller_with(student)
    callback = keras_dfkd.callbacks.StudentBatchNormCalibration()
    callback.set_model(distiller)
    assert callback.calibrate() == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batches=-1), "`batches` must be an int >= 0"),
        (dict(batches=2.5), "`batches` must be an int >= 0"),
        (dict(batch_size=1), "a variance needs two images"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_dfkd.callbacks.StudentBatchNormCalibration(**kwargs)
