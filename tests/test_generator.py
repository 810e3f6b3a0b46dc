"""The DCGAN-style generator."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.generators import Generator
from keras_dfkd.testing import to_numpy


def count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def test_dafl_mnist_generator_parameter_count():
    # ALGORITHMS.md 14: DAFL/DFAD MNIST generator, latent 100, 1 channel.
    generator = Generator.dafl((32, 32, 1))
    generator.build()
    assert count(generator.trainable_weights) == 1_049_985


def test_dafl_generator_settings():
    config = Generator.dafl(
        (32, 32, 1), width=8, spectral_normalization=True, name="g"
    ).get_config()
    assert config["batch_norm_epsilon"] == 0.8
    assert config["output_activation"] == "tanh"
    assert config["output_batch_norm"] is True
    assert config["spectral_normalization"] is True
    assert (config["width"], config["name"]) == (8, "g")


@pytest.mark.parametrize(
    "shape, upsamples", [((28, 28, 1), 2), ((32, 32, 3), 2), ((64, 64, 3), 3)]
)
def test_output_shape_and_range(shape, upsamples):
    generator = Generator(shape, width=4, num_upsamples=upsamples)
    images = generator(keras.random.normal((3, 100), seed=1), training=True)
    images = keras.ops.convert_to_numpy(images)
    assert images.shape == (3,) + shape
    assert np.all(np.abs(images) <= 1.0)


def test_sigmoid_output_and_output_batch_norm():
    sigmoid = Generator((16, 16, 2), width=4, output_activation="sigmoid")
    out = keras.ops.convert_to_numpy(sigmoid(keras.random.normal((4, 100))))
    assert out.min() >= 0.0 and out.max() <= 1.0
    standardised = Generator((16, 16, 2), width=4, output_batch_norm=True)
    out = standardised(keras.random.normal((64, 100), seed=2), training=True)
    out = keras.ops.convert_to_numpy(out)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, atol=0.05)


def test_conditional_generator_uses_labels():
    generator = Generator((16, 16, 1), width=4, num_classes=10)
    noise = keras.random.normal((2, 100), seed=3)
    a = generator([noise, np.array([0, 0])], training=False)
    b = generator([noise, np.array([0, 7])], training=False)
    a, b = keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
    np.testing.assert_allclose(a[0], b[0])
    assert not np.allclose(a[1], b[1])
    with pytest.raises(ValueError, match=r"\[noise, labels\]"):
        generator(noise)


def test_bad_arguments():
    with pytest.raises(ValueError, match="cannot make 3x3"):
        Generator((3, 3, 1))
    with pytest.raises(ValueError, match="output_activation='tanh'"):
        Generator((8, 8, 1), output_activation=None, input_range=(0, 1))
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        Generator((32, 32))
    with pytest.raises(ValueError, match="output_activation"):
        Generator((32, 32, 1), output_activation="relu")


@pytest.mark.parametrize("size", [28, 30, 33])
def test_sizes_that_are_no_multiple_are_cropped(size):
    generator = Generator((size, size + 2, 1), width=4)
    images = generator(keras.random.normal((2, 100), seed=0))
    assert tuple(images.shape) == (2, size, size + 2, 1)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_known_input_range_maps_the_activation(activation):
    noise = keras.random.normal((64, 100), seed=1)
    pixels = Generator((16, 16, 1), width=4, output_activation=activation)
    raw = Generator(
        (16, 16, 1),
        width=4,
        output_activation=activation,
        input_range=(0, 255),
    )
    pixels.build()
    raw.build()
    raw.set_weights(pixels.get_weights())
    expected = keras.ops.convert_to_numpy(pixels(noise))
    if activation == "tanh":
        expected = (expected + 1) / 2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(raw(noise)), 255 * expected, rtol=1e-5
    )
    standardized = Generator((16, 16, 1), width=4, input_range="standardized")
    assert standardized.output_norm is not None
    assert standardized.get_config()["output_batch_norm"] is True


@pytest.mark.parametrize("input_range", [(0, 1), (0, 255)])
def test_known_range_normalizes_before_the_activation(input_range):
    # DAFL/DFAD/PRE-DFKD keep their affine-free output BN with a known
    # range, before the tanh: per channel, atanh of the pixels has batch
    # mean 0 and variance 1, so a batch cannot saturate at the ends.
    generator = Generator.dafl(
        (16, 16, 2), width=4, input_range=input_range, name="g"
    )
    images = keras.ops.convert_to_numpy(
        generator(keras.random.normal((64, 100), seed=2), training=True)
    )
    low, high = input_range
    pixels = (images.astype("float64") - low) / (high - low)
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    pre_activation = np.arctanh(np.clip(2 * pixels - 1, -1 + 1e-7, 1 - 1e-7))
    per_channel = pre_activation.reshape(-1, 2)
    np.testing.assert_allclose(per_channel.mean(0), 0.0, atol=0.05)
    np.testing.assert_allclose(per_channel.var(0), 1.0, atol=0.05)
    assert generator.get_config()["output_batch_norm"] is True


def test_serialization_round_trip(tmp_path):
    generator = Generator((16, 16, 3), width=4, num_classes=5, name="g")
    config = keras.saving.serialize_keras_object(generator)
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() == generator.get_config()
    inputs = keras.Input((100,))
    labels = keras.Input((), dtype="int32")
    model = keras.Model([inputs, labels], generator([inputs, labels]))
    path = str(tmp_path / "generator.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    noise = np.random.default_rng(0).normal(size=(2, 100)).astype("float32")
    labels = np.array([1, 4])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded([noise, labels])),
        keras.ops.convert_to_numpy(model([noise, labels])),
        atol=1e-6,
    )


def test_diagnostics_measure_saturation_and_output_variance():
    keras.utils.set_random_seed(0)
    generator = Generator((8, 8, 1), latent_dim=4, width=4, num_upsamples=1)
    generator.build()
    noise = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    images, diagnostics = generator(
        noise, training=True, return_diagnostics=True
    )
    images = to_numpy(images)  # tanh outputs, no output BN here
    np.testing.assert_allclose(
        to_numpy(diagnostics["saturation"]), np.mean(np.abs(images) > 0.99)
    )
    np.testing.assert_allclose(
        to_numpy(diagnostics["output_variance"]),
        images.var(axis=(0, 1, 2)).mean(),
        rtol=1e-4,
    )
    # A scaled-up output convolution saturates the tanh.
    kernel = generator.to_image.kernel
    kernel.assign(kernel * 1000.0)
    _, saturated = generator(noise, training=True, return_diagnostics=True)
    assert float(to_numpy(saturated["saturation"])) > 0.5


def test_dafl_logs_the_generators_saturation():
    method = keras_dfkd.methods.DAFL()
    assert {"saturation", "output_variance"} <= set(method.log_names)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (8, 8)])
def test_upsample_conv_equals_upsampling_then_convolution(size):
    # The generator's blocks run `backend.upsample_conv`; it must give the
    # two-step form's values and gradients (borders included).
    from keras_dfkd import backend

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *size, 3)).astype("float32")
    kernel = rng.normal(size=(3, 3, 3, 4)).astype("float32")
    weights = rng.normal(size=(2, 2 * size[0], 2 * size[1], 4))
    weights = keras.ops.convert_to_tensor(weights.astype("float32"))

    def two_step(x, kernel):
        x = keras.ops.repeat(keras.ops.repeat(x, 2, axis=1), 2, axis=2)
        return keras.ops.conv(x, kernel, padding="same")

    for fn in (two_step, backend.upsample_conv):
        assert tuple(fn(x, kernel).shape) == (2, 2 * size[0], 2 * size[1], 4)
    np.testing.assert_allclose(
        to_numpy(backend.upsample_conv(x, kernel)),
        to_numpy(two_step(x, kernel)),
        atol=1e-5,
    )
    for wrt in ("x", "kernel"):

        def loss(value, fn, wrt=wrt):
            args = (value, kernel) if wrt == "x" else (x, value)
            return keras.ops.sum(fn(*args) * weights)

        start = x if wrt == "x" else kernel
        got = backend.input_gradient(
            lambda v: loss(v, backend.upsample_conv), start
        )[1]
        want = backend.input_gradient(lambda v: loss(v, two_step), start)[1]
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-4)


def test_generator_blocks_keep_their_conv_layers():
    # The fused upsampling keeps the Conv2D layers and their weights, so
    # checkpoints of earlier versions still load.
    generator = Generator((32, 32, 1), width=4)
    generator.build()
    assert all(
        type(conv) is keras.layers.Conv2D and conv.kernel.shape[:2] == (3, 3)
        for conv in generator.convs
    )
