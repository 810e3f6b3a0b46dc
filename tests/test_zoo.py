"""Tests of the teacher zoo: builders, input domains, caching (no training)."""

import functools
import importlib.util
import json
import os

import keras
import numpy as np
import pytest

from keras_dfkd import datasets
from keras_dfkd import zoo
from keras_dfkd.teacher import all_layers

pytestmark = pytest.mark.usefixtures("fast_jax_compilation")

_NEEDS_KERAS_HUB = pytest.mark.skipif(
    importlib.util.find_spec("keras_hub") is None,
    reason="keras-hub is not installed",
)

# The keras-hub pair is skipped where keras-hub is missing.
PAIR_NAMES = [
    pytest.param(name, marks=_NEEDS_KERAS_HUB) if "hub" in name else name
    for name in sorted(zoo.PAIRS)
]

INPUT_SHAPE = (28, 28, 1)


@pytest.fixture(scope="module", autouse=True)
def _release_cached_models():
    yield
    _teacher.cache_clear()
    _student.cache_clear()


@functools.lru_cache(maxsize=None)
def _teacher(name):
    return zoo.build_teacher(name)


@functools.lru_cache(maxsize=None)
def _student(name):
    return zoo.build_student(name, seed=0)


def _raw_images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *INPUT_SHAPE), dtype=np.uint8)
    images[0] = 0
    images[1] = 255
    return images


def _teacher_inputs(pair, n=4):
    return zoo.preprocess(_raw_images(n), pair.domain, pair.dataset)


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("name", PAIR_NAMES)
def test_teacher_and_student_output_logits(name):
    pair = zoo.get_pair(name)
    teacher, student = _teacher(name), _student(name)
    assert tuple(teacher.input_shape) == (None, *INPUT_SHAPE)
    assert tuple(student.input_shape) == tuple(teacher.input_shape)
    x = _teacher_inputs(pair)
    for model in (teacher, student):
        logits = _predict(model, x)
        assert logits.shape == (4, 10)
        assert np.all(np.isfinite(logits))
        head = model.layers[-1]
        assert isinstance(head, keras.layers.Dense)
        assert head.activation is keras.activations.linear


@pytest.mark.parametrize("name", PAIR_NAMES)
def test_student_is_smaller_than_teacher(name):
    assert _student(name).count_params() < _teacher(name).count_params()


@pytest.mark.parametrize("name", PAIR_NAMES)
def test_teacher_batch_norm_on_channels_axis(name):
    norms = [
        layer
        for layer in all_layers(_teacher(name))
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms
    assert all(norm.axis in (-1, 3) for norm in norms)


@_NEEDS_KERAS_HUB
def test_students_with_and_without_batch_norm():
    with_norm = {
        name
        for name in zoo.PAIRS
        if any(
            isinstance(layer, keras.layers.BatchNormalization)
            for layer in all_layers(_student(name))
        )
    }
    assert with_norm
    assert with_norm != set(zoo.PAIRS)


def test_domains_are_covered():
    domains = {pair.domain for pair in zoo.PAIRS.values()}
    assert domains == set(zoo.DOMAINS)
    assert len(zoo.PAIRS) >= 6


@pytest.mark.parametrize(
    "domain,low,high",
    [
        ("zero_one", 0.0, 1.0),
        ("minus_one_one", -1.0, 1.0),
        ("raw_pixels", 0.0, 255.0),
    ],
)
def test_preprocess_maps_pixel_range(domain, low, high):
    x = zoo.preprocess(_raw_images(), domain)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x[0], low, atol=1e-6)
    np.testing.assert_allclose(x[1], high, atol=1e-6)
    assert x.min() >= low and x.max() <= high


def test_preprocess_standardizes_real_images():
    try:
        images, _ = datasets.load("fashion_mnist", split="test")
    except datasets.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not available offline")
    x = zoo.preprocess(images, "standardized")
    assert x.dtype == np.float32
    assert abs(float(x.mean())) < 0.05
    assert abs(float(x.std()) - 1.0) < 0.05


def test_preprocess_rejects_unknown_domain():
    with pytest.raises(ValueError, match="Unknown domain"):
        zoo.preprocess(_raw_images(), "imagenet")


def test_get_pair_rejects_unknown_name():
    with pytest.raises(ValueError, match="Unknown zoo pair"):
        zoo.get_pair("lenet")


def _rescaling_range(model):
    """The input range a `Rescaling` first layer maps to `[0, 1]`."""
    first = model.layers[1]
    assert isinstance(first, keras.layers.Rescaling)
    assert first.offset == 0.0
    return 0.0, 1.0 / first.scale


def _converter_output(model, images):
    converter = model.preprocessor.image_converter
    return keras.ops.convert_to_numpy(converter(images))


@pytest.mark.parametrize("name", PAIR_NAMES)
def test_input_range_matches_domain(name):
    pair = zoo.get_pair(name)
    images = _raw_images()
    x = zoo.preprocess(images, pair.domain, pair.dataset)
    if pair.input_range is None:
        teacher = _teacher(name)
        if getattr(teacher, "preprocessor", None) is not None:
            # The keras-hub converter turns raw pixels into exactly what
            # `preprocess` gives the model.
            np.testing.assert_allclose(
                _converter_output(teacher, images), x, atol=1e-5
            )
        else:
            low, high = _rescaling_range(teacher)
            assert (low, high) == pytest.approx((0.0, 255.0))
            assert pair.domain == "raw_pixels"
        return
    low, high = pair.input_range
    if isinstance(low, tuple):
        info = datasets.get_info(pair.dataset)
        assert pair.domain == "standardized"
        assert (low, high) == (info.mean, info.std)
        expected = (images / 255.0 - np.asarray(low)) / np.asarray(high)
        np.testing.assert_allclose(x, expected, atol=1e-5)
    else:
        np.testing.assert_allclose(x[0], low, atol=1e-6)
        np.testing.assert_allclose(x[1], high, atol=1e-6)


def test_fashion_mnist_constants():
    info = datasets.get_info("fashion_mnist")
    assert info.mean == pytest.approx((0.2860,))
    assert info.std == pytest.approx((0.3530,))


def test_nested_teacher_holds_batch_norm_in_a_functional_base():
    teacher = _teacher("nested_residual_zero_one")
    nested = [
        layer for layer in teacher.layers if isinstance(layer, keras.Model)
    ]
    assert len(nested) == 1
    base = nested[0]
    assert type(base).__name__ == "Functional"
    assert teacher.layers[1] is base
    assert any(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in base.layers
    )
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization)
        for layer in teacher.layers
    )


@_NEEDS_KERAS_HUB
def test_hub_teacher_takes_converter_output():
    teacher = _teacher("hub_resnet_standardized")
    assert teacher.preprocessor.image_converter.image_size is None
    backbone = teacher.backbone
    assert isinstance(backbone, keras.Model)
    assert tuple(backbone.input_shape) == (None, *INPUT_SHAPE)


@pytest.mark.parametrize("name", PAIR_NAMES)
def test_teacher_keras_round_trip(name, tmp_path):
    pair = zoo.get_pair(name)
    teacher = _teacher(name)
    path = str(tmp_path / "teacher.keras")
    teacher.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert type(loaded) is type(teacher)
    x = _teacher_inputs(pair)
    np.testing.assert_array_equal(_predict(loaded, x), _predict(teacher, x))


def test_cache_path_names_recipe_and_backend(tmp_path, monkeypatch):
    pair = zoo.get_pair("plain_cnn_zero_one")
    path = zoo.teacher_path(pair, str(tmp_path), seed=3)
    assert os.path.dirname(path) == str(tmp_path)
    filename = os.path.basename(path)
    assert pair.name in filename
    assert f"_e{pair.epochs}_" in filename
    assert "_s3_" in filename
    assert filename.endswith(f"_{keras.config.backend()}.keras")
    monkeypatch.setenv(zoo.CACHE_DIR_ENV, str(tmp_path / "env"))
    assert zoo.cache_dir_path() == str(tmp_path / "env")
    monkeypatch.delenv(zoo.CACHE_DIR_ENV)
    assert zoo.cache_dir_path() == os.path.expanduser(zoo.DEFAULT_CACHE_DIR)


def test_load_or_train_teacher_reads_the_cache(tmp_path):
    pair = zoo.get_pair("plain_cnn_zero_one")
    teacher = _teacher(pair.name)
    path = zoo.teacher_path(pair, str(tmp_path))
    teacher.save(path)
    with open(path + ".json", "w") as f:
        json.dump({"test_accuracy": 0.5, "train_seconds": 1.0}, f)
    loaded, test_accuracy, loaded_path = zoo.load_or_train_teacher(
        pair, cache_dir=str(tmp_path)
    )
    assert loaded_path == path
    assert test_accuracy == 0.5
    x = _teacher_inputs(pair)
    np.testing.assert_array_equal(_predict(loaded, x), _predict(teacher, x))
