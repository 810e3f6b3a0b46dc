"""The frozen teacher and its functional BN-input extractor."""

import keras
import numpy as np
import pytest

from keras_dfkd.teacher import Teacher
from keras_dfkd.testing import to_numpy


def functional_teacher():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5)(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, outputs)


def sequential_teacher():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3),
            keras.layers.BatchNormalization(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )


def test_extractor_reads_every_batch_norm_input():
    model = functional_teacher()
    # Non-trivial moving statistics, so the lists can be checked.
    for bn in (model.get_layer("bn_a"), model.get_layer("bn_b")):
        bn.moving_mean.assign(np.arange(bn.moving_mean.shape[0], dtype="f"))
    teacher = Teacher(model)
    assert [bn.name for bn in teacher.batch_norm_layers] == ["bn_a", "bn_b"]
    assert not model.trainable
    x = np.random.default_rng(0).normal(size=(6, 8, 8, 2)).astype("float32")
    out = teacher(x)
    np.testing.assert_allclose(
        to_numpy(out["logits"]), to_numpy(model(x, training=False)), 1e-5
    )
    for bn, feature in zip(teacher.batch_norm_layers, out["batch_norm_inputs"]):
        reference = keras.Model(model.inputs, bn.input)(x)
        np.testing.assert_allclose(to_numpy(feature), to_numpy(reference), 1e-5)
    penultimate = keras.Model(model.inputs, model.get_layer("logits").input)
    np.testing.assert_allclose(
        to_numpy(out["features"]), to_numpy(penultimate(x)), 1e-5
    )
    means, variances = teacher.batch_norm_statistics()
    np.testing.assert_array_equal(to_numpy(means[1]), np.arange(5))
    np.testing.assert_array_equal(to_numpy(variances[0]), np.ones(3))
    assert teacher.batch_norm_input_shapes == [(None, 8, 8, 3), (None, 5)]
    assert (teacher.input_shape, teacher.num_classes) == ((8, 8, 2), 4)


def test_sequential_teacher():
    teacher = Teacher(sequential_teacher())
    assert len(teacher.batch_norm_layers) == 1
    out = teacher(np.zeros((2, 8, 8, 1), "float32"))
    assert tuple(out["logits"].shape) == (2, 3)
    assert tuple(out["features"].shape) == (2, 2)


def test_not_a_model():
    with pytest.raises(TypeError, match="keras.Model"):
        Teacher(keras.layers.Dense(3))


def test_logits_must_be_a_vector():
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match="logits"):
        Teacher(model)
