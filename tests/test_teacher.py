"""The frozen teacher and its functional BN-input extractor."""

import keras
import numpy as np
import pytest

from keras_dfkd.models import lenet5
from keras_dfkd.teacher import Teacher
from keras_dfkd.testing import to_numpy


def functional_teacher():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(3, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(5, name="fc")(x)
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
    # The features are the classifier head's input (Dense, BN, ReLU, Dense).
    head_input = keras.Model(model.inputs, model.get_layer("flat").output)
    np.testing.assert_allclose(
        to_numpy(out["features"]), to_numpy(head_input(x)), 1e-5
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


def test_features_are_the_head_input_or_the_named_layer():
    # LeNet-5 as in DAFL's code: the 120-d flattened conv3 output.
    teacher = Teacher(lenet5(input_shape=(32, 32, 1)))
    x = np.random.default_rng(1).normal(size=(3, 32, 32, 1)).astype("f")
    assert tuple(teacher(x)["features"].shape) == (3, 120)
    teacher.use_feature_layer("fc1_relu")
    model = teacher.model
    reference = keras.Model(model.inputs, model.get_layer("fc1_relu").output)
    np.testing.assert_allclose(
        to_numpy(teacher(x)["features"]), to_numpy(reference(x)), 1e-5
    )
    teacher.use_feature_layer(None)
    assert tuple(teacher(x)["features"].shape) == (3, 120)
    with pytest.raises(ValueError, match="no layer named 'fc9'"):
        teacher.use_feature_layer("fc9")


def test_features_of_a_convolutional_head_and_of_a_dense_only_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Conv2D(3, 1, name="classifier")(x)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    teacher = Teacher(keras.Model(inputs, outputs))
    # No Dense head: the input of the last layer, as before.
    assert tuple(teacher(np.zeros((2, 8, 8, 1), "f"))["features"].shape) == (
        2,
        6,
        6,
        3,
    )
    flat = keras.Input((8, 8, 1))
    dense_only = keras.Model(
        flat, keras.layers.Dense(3)(keras.layers.Flatten()(flat))
    )
    assert Teacher(dense_only).has_features  # The flattened pixels.


def test_not_a_model():
    with pytest.raises(TypeError, match="keras.Model"):
        Teacher(keras.layers.Dense(3))


def test_logits_must_be_a_vector():
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match="logits"):
        Teacher(model)
