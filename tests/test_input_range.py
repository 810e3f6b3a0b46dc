"""InputRange: forms, mapping, detection and the mismatch warning."""

import types
import warnings

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd import datasets
from keras_dfkd import input_range_detection
from keras_dfkd import recipes
from keras_dfkd.input_range import InputRange
from keras_dfkd.teacher import Teacher
from keras_dfkd.testing import to_numpy


@pytest.mark.parametrize(
    "value, expected",
    [
        ((0, 1), InputRange(0, 1)),
        ([-1, 1], InputRange(-1, 1)),
        ((0, 255), InputRange(0, 255)),
        (((0.5,), (0.25,)), InputRange(mean=(0.5,), std=(0.25,))),
        ("standardized", InputRange.standardized()),
        ({"low": 0, "high": 255}, InputRange(0, 255)),
        (InputRange(0, 2), InputRange(0, 2)),
        (None, None),
    ],
)
def test_the_forms_users_write(value, expected):
    assert InputRange.get(value) == expected


@pytest.mark.parametrize(
    "value, match",
    [
        ((1, 0), "below"),
        (((0.5,), (0.0,)), "positive"),
        ("pixels", "Unknown input range"),
        ((0, 1, 2), "Cannot read"),
        ((0, (1,)), "Cannot read"),
        (((0.5, 0.5), (0.2, 0.2, 0.2)), "disagree"),
        ((0, float("nan")), "finite"),
    ],
)
def test_bad_forms_name_the_problem(value, match):
    with pytest.raises(ValueError, match=match):
        InputRange.get(value)


def test_channel_count_must_fit_the_teacher():
    with pytest.raises(ValueError, match="3 per-channel values"):
        InputRange(mean=(0.4, 0.4, 0.4), std=(0.2,) * 3).check_channels(1)
    InputRange(mean=(0.4,), std=(0.2,)).check_channels(3)  # broadcasts


def test_config_round_trip_and_repr():
    for value in (
        InputRange(0, 255),
        InputRange(mean=(0.4, 0.5, 0.6), std=(0.2, 0.2, 0.3)),
        InputRange.standardized(),
    ):
        assert InputRange.from_config(value.get_config()) == value
        assert "InputRange" in repr(value)


def test_mapping_matches_numpy():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(size=(4, 5, 5, 3)).astype("float32")
    mean, std = np.array([0.4, 0.5, 0.6]), np.array([0.2, 0.25, 0.3])
    domain = InputRange(mean=tuple(mean), std=tuple(std))
    expected = (pixels - mean) / std
    np.testing.assert_allclose(
        to_numpy(domain.from_pixels(pixels)), expected, rtol=1e-5
    )
    np.testing.assert_allclose(domain.to_pixels(expected), pixels, atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(domain.pixel_units(expected)), 2 * pixels - 1, atol=1e-5
    )
    raw = InputRange(0, 255)
    np.testing.assert_allclose(
        to_numpy(raw.from_pixels(pixels)), 255 * pixels, rtol=1e-6
    )
    np.testing.assert_allclose(
        to_numpy(raw.pixel_units(255 * pixels)), 2 * pixels - 1, atol=1e-5
    )
    standardized = to_numpy(InputRange.standardized().from_pixels(pixels))
    np.testing.assert_allclose(standardized.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(standardized.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_to_input_range_layer_round_trips(tmp_path):
    layer = keras_dfkd.layers.ToInputRange((-1, 1), name="to_range")
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert clone.input_range == InputRange(-1, 1)
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, layer(inputs))
    path = str(tmp_path / "m.keras")
    model.save(path)
    pixels = np.linspace(0, 1, 16, dtype="float32").reshape(1, 4, 4, 1)
    np.testing.assert_allclose(
        to_numpy(keras.saving.load_model(path)(pixels)),
        2 * pixels - 1,
        atol=1e-6,
    )


def classifier(first_layers, size=8, channels=1):
    inputs = keras.Input((size, size, channels))
    x = inputs
    for layer in first_layers:
        x = layer(x)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.mark.parametrize(
    "first_layers, expected",
    [
        ([keras.layers.Rescaling(1 / 255)], InputRange(0, 255)),
        ([keras.layers.Rescaling(1 / 127.5, offset=-1)], InputRange(0, 255)),
        ([keras.layers.Rescaling(2.0, offset=-1)], InputRange(0, 1)),
        (
            [keras.layers.Normalization(mean=0.3, variance=0.1)],
            InputRange(0, 1),
        ),
        (
            [keras.layers.Normalization(mean=120.0, variance=3000.0)],
            InputRange(0, 255),
        ),
        (
            [
                keras.layers.Rescaling(1 / 255),
                keras.layers.Normalization(mean=0.3, variance=0.1),
            ],
            InputRange(0, 255),
        ),
        ([], None),
    ],
)
def test_detected_from_the_first_layer(first_layers, expected):
    assert (
        input_range_detection.detect_input_range(classifier(first_layers))
        == expected
    )


def test_detected_inside_a_nested_preprocessing_model():
    preprocessing = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255)]
    )
    teacher = classifier([preprocessing])
    assert Teacher(teacher).input_range == InputRange(0, 255)
    assert Teacher(teacher).input_range_source == "detected"


def test_detected_from_a_keras_hub_image_converter():
    keras_hub = pytest.importorskip("keras_hub")
    converter = keras_hub.layers.ResNetImageConverter(
        scale=[1 / (255 * s) for s in (0.229, 0.224, 0.225)],
        offset=[
            -m / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        ],
    )
    teacher = classifier([], channels=3)
    teacher.preprocessor = types.SimpleNamespace(image_converter=converter)
    detected = input_range_detection.detect_input_range(teacher)
    pixels = np.random.default_rng(0).uniform(size=(2, 8, 8, 3))
    expected = (pixels - np.array([0.485, 0.456, 0.406])) / np.array(
        [0.229, 0.224, 0.225]
    )
    np.testing.assert_allclose(
        to_numpy(detected.from_pixels(pixels.astype("float32"))),
        expected,
        rtol=1e-4,
        atol=1e-4,
    )


def _train_digit_teacher(pixels_to_input, seed=0):
    """A small CNN trained briefly on real MNIST digits in a given domain."""
    try:
        x, y = datasets.load("mnist", split="train")
    except datasets.DatasetNotFoundError:
        pytest.skip("offline MNIST digits not installed")
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    h = keras.layers.BatchNormalization(momentum=0.9)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3, padding="same")(h)
    h = keras.layers.BatchNormalization(momentum=0.9)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    images = pixels_to_input(np.asarray(x[:4000], "float32") / 255.0)
    model.fit(images, y[:4000], batch_size=64, epochs=1, verbose=0)
    return model


def _warnings_of(build):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build()
    return [str(w.message) for w in caught if "input_range" in str(w.message)]


@pytest.mark.requires_data
def test_mismatch_warning_fires_on_an_undeclared_zero_one_teacher():
    teacher = _train_digit_teacher(lambda pixels: pixels)
    messages = _warnings_of(lambda: Teacher(teacher))
    assert len(messages) == 1
    assert "input_range=(0, 1)" in messages[0]
    # Declared (or the default chosen on purpose): no warning.
    assert not _warnings_of(lambda: Teacher(teacher, input_range=(0, 1)))
    assert not _warnings_of(lambda: Teacher(teacher, "standardized"))


@pytest.mark.requires_data
def test_mismatch_warning_names_minus_one_one():
    teacher = _train_digit_teacher(lambda pixels: 2 * pixels - 1)
    messages = _warnings_of(lambda: Teacher(teacher))
    assert len(messages) == 1 and "input_range=(-1, 1)" in messages[0]


@pytest.mark.requires_data
def test_no_mismatch_warning_on_standardised_teachers(teacher_cache):
    standardized = _train_digit_teacher(
        lambda pixels: (pixels - 0.1307) / 0.3081
    )
    assert not _warnings_of(lambda: Teacher(standardized))
    try:
        recipe, _, _ = recipes.load_or_train_teacher(
            teacher_cache, "mnist", "lenet5", epochs=5, verbose=0
        )
    except datasets.DatasetNotFoundError:
        pytest.skip("offline MNIST digits not installed")
    assert not _warnings_of(lambda: Teacher(recipe))
    result = input_range_detection.mismatch_test(Teacher(recipe))
    assert result["mismatch"] is False
