"""Tests for the reference classifier models in `keras_dfkd.models`."""

import functools

import keras
import numpy as np
import pytest

from keras_dfkd import models

pytestmark = pytest.mark.usefixtures("fast_jax_compilation")

# Trainable parameters (weights, biases, BN gamma/beta; BN moving statistics
# excluded) for 10 and 100 classes, default input shapes. The LeNets have
# batch norm by default: 61,706 + 2 * (6 + 16 + 120 + 84) = 62,158 and
# 15,738 + 2 * (3 + 8 + 60 + 42) = 15,964.
PARAM_COUNTS = {
    "lenet5": (62_158, 69_808),
    "lenet5_half": (15_964, 19_834),
    "resnet18": (11_173_962, 11_220_132),
    "resnet34": (21_282_122, 21_328_292),
    "vgg11_bn": (9_231_114, 9_277_284),
    "wrn_40_2": (2_243_546, 2_255_156),
    "wrn_40_1": (563_930, 569_780),
    "wrn_16_2": (691_674, 703_284),
    "wrn_16_1": (175_066, 180_916),
}

COUNT_CASES = [
    (name, num_classes, counts[i])
    for name, counts in PARAM_COUNTS.items()
    for i, num_classes in enumerate((10, 100))
]

# Models cheap enough for a forward pass on 2 CPU cores.
SMALL_MODELS = ["lenet5", "lenet5_half", "wrn_16_1"]


@pytest.fixture(scope="module", autouse=True)
def _release_cached_models():
    """Frees the models cached by `_build` once this module is done."""
    yield
    _cached_build.cache_clear()


@functools.lru_cache(maxsize=None)
def _cached_build(name, num_classes):
    return getattr(models, name)(num_classes=num_classes)


def _build(name, num_classes=10):
    """Builds (once per module) a model with default arguments."""
    return _cached_build(name, num_classes)


def _num_trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _to_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("name,num_classes,expected", COUNT_CASES)
def test_parameter_count(name, num_classes, expected):
    model = _build(name, num_classes)
    assert _num_trainable(model) == expected
    assert model.output_shape == (None, num_classes)


@pytest.mark.parametrize(
    "builder,expected",
    [(models.lenet5, 61_706), (models.lenet5_half, 15_738)],
)
def test_lenet_parameter_count_without_batch_norm(builder, expected):
    model = builder(batch_norm=False)
    assert _num_trainable(model) == expected
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in model.layers
    )


@pytest.mark.parametrize(
    "name,expected", [("lenet5_no_bn", 61_706), ("lenet5_half_no_bn", 15_738)]
)
def test_registry_has_the_papers_lenets_without_batch_norm(name, expected):
    model = models.get(name, 10, (32, 32, 1))
    assert _num_trainable(model) == expected
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in model.layers
    )


@pytest.mark.parametrize("name", list(PARAM_COUNTS))
def test_is_functional_with_dense_logits(name):
    model = _build(name)
    assert isinstance(model, keras.Model)
    assert type(model).__name__ == "Functional"
    assert model.inputs is not None
    assert len(model.inputs) == 1
    assert model.name == name
    # The classifier is the last layer; its input is the penultimate feature.
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Dense)
    assert last.activation is keras.activations.linear
    # Every BatchNormalization uses the PyTorch-equivalent settings.
    bns = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert bns
    for bn in bns:
        assert bn.momentum == pytest.approx(0.9)
        assert bn.epsilon == pytest.approx(1e-5)


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_output_shape(name):
    model = _build(name)
    input_shape = model.inputs[0].shape[1:]
    x = np.random.default_rng(0).normal(size=(2, *input_shape))
    y = model(x.astype("float32"), training=False)
    assert tuple(y.shape) == (2, 10)
    assert np.all(np.isfinite(_to_numpy(y)))


def test_lenet5_batch_norm_layout():
    model = _build("lenet5")
    bn_names = [
        layer.name
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert bn_names == ["conv1_bn", "conv2_bn", "conv3_bn", "fc1_bn"]
    # On 32x32 inputs the last convolution gives a 1x1x120 feature map.
    assert tuple(model.get_layer("conv3").output.shape) == (None, 1, 1, 120)
    assert tuple(model.layers[-1].input.shape) == (None, 84)


def test_variable_input_size():
    model = models.wrn_16_1(num_classes=5, input_shape=(None, None, 3))
    assert model.output_shape == (None, 5)
    y = model(np.zeros((1, 11, 11, 3), "float32"), training=False)
    assert tuple(y.shape) == (1, 5)


def test_vgg_pooling_follows_reference():
    def pools(model):
        return [
            layer.name
            for layer in model.layers
            if isinstance(layer, keras.layers.MaxPooling2D)
        ]

    # 32x32: three max-pools, the last two blocks run at 4x4.
    model = _build("vgg11_bn")
    assert len(pools(model)) == 3
    assert tuple(model.get_layer("block5_relu2").output.shape) == (
        None,
        4,
        4,
        512,
    )
    # 64x64: a fourth max-pool after block 4.
    model = models.vgg11_bn(input_shape=(64, 64, 3))
    assert len(pools(model)) == 4
    assert _num_trainable(model) == PARAM_COUNTS["vgg11_bn"][0]


def test_stride_two_convolutions_pad_like_pytorch():
    model = _build("resnet18")
    conv = model.get_layer("stage2_block1_conv1")
    assert conv.strides == (2, 2)
    assert conv.padding == "valid"
    pad = model.get_layer("stage2_block1_conv1_pad")
    assert isinstance(pad, keras.layers.ZeroPadding2D)
    assert tuple(conv.output.shape) == (None, 16, 16, 128)


def test_lenet5_save_load_round_trip(tmp_path):
    model = models.lenet5()
    x = np.random.default_rng(1).normal(size=(4, 32, 32, 1))
    x = x.astype("float32")
    # Give the BN layers non-trivial moving statistics.
    model(x, training=True)
    expected = _to_numpy(model(x, training=False))

    path = str(tmp_path / "lenet5.keras")
    model.save(path)
    restored = keras.saving.load_model(path)

    assert type(restored).__name__ == "Functional"
    assert restored.name == "lenet5"
    np.testing.assert_allclose(
        _to_numpy(restored(x, training=False)), expected, rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize(
    "builder",
    [
        models.lenet5,
        models.lenet5_half,
        models.resnet18,
        models.resnet34,
        models.vgg11_bn,
        models.wrn_40_2,
        models.wrn_16_1,
    ],
)
@pytest.mark.parametrize(
    "input_shape",
    [(32, 32), (1, 32, 32, 3), None, "32x32", (32, 32, None), (32, 32, 0)],
)
def test_rejects_bad_input_rank_or_channels(builder, input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        builder(input_shape=input_shape)


@pytest.mark.parametrize(
    "builder,input_shape",
    [
        (models.lenet5, (28, 28, 1)),
        (models.lenet5, (32, 31, 1)),
        (models.lenet5_half, (16, 16, 1)),
        (models.vgg11_bn, (7, 32, 3)),
        (models.resnet18, (0, 32, 3)),
    ],
)
def test_rejects_too_small_inputs(builder, input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        builder(input_shape=input_shape)


def test_lenet_minimum_size_is_accepted():
    model = models.lenet5_half(input_shape=(32, 32, 1))
    assert model.output_shape == (None, 10)
    with pytest.raises(ValueError, match="at least 32x32"):
        models.lenet5_half(input_shape=(31, 31, 1))
    with pytest.raises(ValueError, match="known input"):
        models.lenet5(input_shape=(None, None, 1))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"depth": 15, "width": 1}, "depth"),
        ({"depth": 4, "width": 1}, "depth"),
        ({"depth": 16, "width": 0}, "width"),
        ({"depth": 16, "width": 1, "dropout_rate": 1.0}, "dropout_rate"),
    ],
)
def test_wide_resnet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.wide_resnet(**kwargs)


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, None])
def test_rejects_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        models.lenet5(num_classes=num_classes)


def test_wide_resnet_generic_matches_convenience():
    model = models.wide_resnet(depth=16, width=2, num_classes=100)
    assert model.name == "wrn_16_2"
    assert _num_trainable(model) == PARAM_COUNTS["wrn_16_2"][1]
