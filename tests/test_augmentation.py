"""Tests for `keras_dfkd.layers.DifferentiableAugmentation`."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_dfkd.layers import DifferentiableAugmentation
from keras_dfkd.testing import gradient
from keras_dfkd.testing import to_numpy


def random_images(seed=0, shape=(16, 6, 5, 2)):
    rng = np.random.default_rng(seed)
    # Strictly positive, so zero padding is distinguishable from pixels.
    return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)


def reference_views(image, padding, flip):
    """All crops (and mirrors) of one zero-padded image, by brute force."""
    h, w, _ = image.shape
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    views = {}
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[dy : dy + h, dx : dx + w]
            views[(dy, dx, False)] = crop
            if flip:
                views[(dy, dx, True)] = crop[:, ::-1]
    return views


def match_views(output, images, padding, flip):
    """Returns the key of the reference view each output sample equals."""
    keys = []
    for out, image in zip(output, images):
        views = reference_views(image, padding, flip)
        found = [k for k, v in views.items() if np.array_equal(out, v)]
        assert found, "output sample is not a crop/flip of its input"
        keys.append(found[0])
    return keys


def run_layer(layer, images, training=True):
    return to_numpy(layer(images, training=training))


def test_output_shape_and_dtype():
    images = random_images()
    layer = DifferentiableAugmentation(padding=2, seed=0)
    out = layer(images)
    assert tuple(out.shape) == images.shape
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    symbolic = layer(keras.Input((6, 5, 2)))
    assert tuple(symbolic.shape) == (None, 6, 5, 2)


def test_training_false_is_identity():
    images = random_images()
    layer = DifferentiableAugmentation(padding=3, seed=0)
    np.testing.assert_array_equal(run_layer(layer, images, False), images)


def test_disabled_augmentation_is_identity():
    images = random_images()
    layer = DifferentiableAugmentation(padding=0, flip=False)
    np.testing.assert_array_equal(run_layer(layer, images), images)


def test_flip_only_returns_input_or_mirror():
    images = random_images(1, shape=(32, 4, 5, 3))
    layer = DifferentiableAugmentation(padding=0, flip=True, seed=1)
    out = run_layer(layer, images)
    flipped = []
    for o, x in zip(out, images):
        if np.array_equal(o, x):
            flipped.append(False)
        else:
            np.testing.assert_array_equal(o, x[:, ::-1])
            flipped.append(True)
    assert 0 < sum(flipped) < len(flipped)


def test_crop_only_is_shifted_copy():
    images = random_images(2)
    padding = 2
    layer = DifferentiableAugmentation(padding=padding, flip=False, seed=2)
    out = run_layer(layer, images)
    keys = match_views(out, images, padding, flip=False)
    offsets = {(dy, dx) for dy, dx, _ in keys}
    assert len(offsets) > 1
    for dy, dx in offsets:
        assert 0 <= dy <= 2 * padding and 0 <= dx <= 2 * padding


def test_crop_and_flip_match_reference():
    images = random_images(3, shape=(24, 5, 5, 1))
    layer = DifferentiableAugmentation(padding=1, flip=True, seed=3)
    keys = match_views(run_layer(layer, images), images, 1, flip=True)
    assert len(set(keys)) > 1


def test_padding_larger_than_image():
    images = random_images(4, shape=(8, 2, 3, 1))
    layer = DifferentiableAugmentation(padding=4, flip=True, seed=4)
    match_views(run_layer(layer, images), images, 4, flip=True)


def test_same_seed_same_output_and_state_advances():
    images = random_images(5)
    a = DifferentiableAugmentation(padding=2, seed=42)
    b = DifferentiableAugmentation(padding=2, seed=42)
    first_a, first_b = run_layer(a, images), run_layer(b, images)
    np.testing.assert_array_equal(first_a, first_b)
    np.testing.assert_array_equal(run_layer(a, images), run_layer(b, images))
    assert not np.array_equal(run_layer(a, images), first_a)


def _stateless_forward(layer, images, weights):
    """`sum(layer(images) * weights)` as a function of `images`."""

    def fn(x):
        if keras.backend.backend() == "jax":
            state = [v.value for v in layer.non_trainable_variables]
            out, _ = layer.stateless_call([], state, x, training=True)
        else:
            out = layer(x, training=True)
        return ops.sum(out * weights)

    return fn


def test_gradient_flows_to_input():
    images = random_images(6)
    layer = DifferentiableAugmentation(padding=2, flip=True, seed=6)
    layer.build(images.shape)
    weights = random_images(7)
    g = gradient(_stateless_forward(layer, images, weights), images)
    assert g.shape == images.shape
    assert np.all(np.isfinite(g))
    assert np.abs(g).sum() > 0.0


def test_flip_gradient_is_exact_permutation():
    images = random_images(8)
    layer = DifferentiableAugmentation(padding=0, flip=True, seed=8)
    layer.build(images.shape)
    g = gradient(
        _stateless_forward(layer, images, np.ones_like(images)), images
    )
    # Every input pixel is used exactly once.
    np.testing.assert_array_equal(g, np.ones_like(images))


def test_compiled_call_gives_valid_crops():
    images = random_images(9, shape=(8, 4, 4, 1))
    layer = DifferentiableAugmentation(padding=1, flip=True, seed=9)
    layer.build(images.shape)
    if keras.backend.backend() == "jax":
        import jax

        @jax.jit
        def step(state, x):
            return layer.stateless_call([], state, x, training=True)

        state = [v.value for v in layer.non_trainable_variables]
        out1, state = step(state, images)
        out2, state = step(state, images)
    else:
        import tensorflow as tf

        step = tf.function(lambda x: layer(x, training=True))
        out1, out2 = step(images), step(images)
    out1, out2 = to_numpy(out1), to_numpy(out2)
    match_views(out1, images, 1, flip=True)
    match_views(out2, images, 1, flip=True)
    assert not np.array_equal(out1, out2)


def test_serialization_round_trip():
    layer = DifferentiableAugmentation(padding=3, flip=False, seed=5)
    config = layer.get_config()
    assert config["padding"] == 3
    assert config["flip"] is False
    assert config["seed"] == 5
    clone = DifferentiableAugmentation.from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == (
        "keras_dfkd>DifferentiableAugmentation"
    )
    restored = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(restored, DifferentiableAugmentation)
    assert restored.get_config() == config
    images = random_images(10)
    np.testing.assert_array_equal(
        run_layer(restored, images), run_layer(clone, images)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": -1},
        {"padding": 1.5},
        {"padding": True},
        {"flip": "yes"},
        {"seed": "0"},
        {"seed": 1.5},
    ],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DifferentiableAugmentation(**kwargs)


def test_bad_input_rank_raises():
    with pytest.raises(ValueError, match="H, W, C"):
        DifferentiableAugmentation()(np.zeros((2, 3, 4), np.float32))
