"""Finding a teacher's input domain: declared, detected, or checked.

`resolve_input_range` takes, in order: the range the user gives; the range
the teacher declares (`detect_input_range`); else the documented default,
`InputRange.standardized()`. For that default, `warn_if_not_standardized`
runs the mismatch test below and warns, naming `input_range` as the fix.

The mismatch test asks whether images standardised per channel (mean 0,
std 1, the default's constraint) can give the teacher's first
BatchNormalization layer the input statistics it stored during training.
It optimises a batch of 16 images for 60 Adam steps, once under that
constraint and once unconstrained, to match the stored per-channel mean
and variance,

```
d(x) = mean_c((mean_c(f(x)) - moving_mean_c)^2 / moving_var_c
              + log((var_c(f(x)) + eps) / (moving_var_c + eps))^2)
```

with `f` the teacher up to that layer, and warns when the standardised
optimum stays above `MISMATCH_DISTANCE` and above `MISMATCH_RATIO`
times the unconstrained one: no standardised batch looks like the
training data there. The suggested range comes from the per-channel
training mean `mu` the stored moving mean implies (`estimate_input_mean`,
when `f` is affine; else the optimised images' mean): (0, 255) above
1.5, (0, 1) when non-negative, else (-1, 1). When `f` is affine and
`|mu| < MEAN_TOLERANCE` the optimisation is skipped (no warning).

Measured (docs/validation.md): the standardised optimum reaches
d <= 0.005 on teachers trained on standardised images (the recipe LeNets
on MNIST and Fashion-MNIST, a VGG-style zoo teacher) and d >= 0.12 on
teachers trained on [0, 1] or [-1, 1] images (unconstrained: d <= 0.035).
"""

import warnings

import keras
import numpy as np

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.input_range import InputRange

#: Below this |per-channel training mean| the default is not questioned.
MEAN_TOLERANCE = 0.1

#: The standardised optimum's distance above which the test can warn.
MISMATCH_DISTANCE = 0.03

#: How many times the unconstrained optimum's distance it must exceed.
MISMATCH_RATIO = 4.0

#: Images and Adam steps of the test's optimisations.
PROBE_BATCH = 16
PROBE_STEPS = 60


def resolve_input_range(model, input_range, channels):
    """`(InputRange, source)`, source `"given"`, `"detected"` or `"default"`.

    Args:
        model: the teacher `keras.Model`.
        input_range: `None` or anything `InputRange.get` reads.
        channels: int, the teacher's image channels.
    """
    given = InputRange.get(input_range)
    if given is not None:
        given.check_channels(channels)
        return given, "given"
    detected = detect_input_range(model)
    if detected is not None:
        detected.check_channels(channels)
        return detected, "detected"
    return InputRange.standardized(), "default"


@keras_dfkd_export("keras_dfkd.detect_input_range")
def detect_input_range(model):
    """The input domain a teacher declares itself, or `None`.

    - A keras-hub `ImageClassifier` (any task with a `preprocessor` that
      has an `image_converter`): the model's input is the converter's
      output for raw pixels in [0, 255], `x = p * scale + offset`.
    - A `keras.layers.Rescaling(scale, offset)` first layer: the input is
      raw pixels, those that the rescaling maps onto [0, 1] (or onto
      [-1, 1] when the offset is negative): `Rescaling(1 / 255)` and
      `Rescaling(1 / 127.5, offset=-1)` both mean [0, 255].
    - A `keras.layers.Normalization` first layer: raw pixels in [0, 255]
      when its largest mean exceeds 1.5, [-1, 1] when a mean is negative,
      else [0, 1].

    Nested models at the input are looked into.

    Args:
        model: a `keras.Model`.

    Returns:
        An `InputRange`, or `None` when the teacher says nothing.
    """
    preprocessor = getattr(model, "preprocessor", None)
    converter = getattr(preprocessor, "image_converter", None)
    if converter is not None:
        return _from_image_converter(converter)
    layer = _first_layer(model)
    if isinstance(layer, keras.layers.Rescaling):
        return _from_rescaling(layer)
    if isinstance(layer, keras.layers.Normalization):
        return _from_normalization(layer)
    return None


def _first_layer(model):
    """The first non-input leaf layer of `model`, looking into models."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model) and layer.layers:
            return _first_layer(layer)
        return layer
    return None


def _values(value):
    array = np.asarray(keras.ops.convert_to_numpy(value), "float64")
    array = array.reshape(-1)
    return float(array[0]) if array.size == 1 else tuple(array.tolist())


def _from_image_converter(converter):
    scale = getattr(converter, "scale", None)
    offset = getattr(converter, "offset", None)
    scale = 1.0 if scale is None else _values(scale)
    offset = 0.0 if offset is None else _values(offset)
    scale_a, offset_a = np.broadcast_arrays(
        np.asarray(scale, "float64"), np.asarray(offset, "float64")
    )
    if np.any(scale_a <= 0):
        return None
    return InputRange(
        0, 255, mean=_compact(-offset_a / scale_a), std=_compact(1.0 / scale_a)
    )


def _from_rescaling(layer):
    scale = np.asarray(_values(layer.scale), "float64")
    offset = np.asarray(_values(layer.offset), "float64")
    if np.any(scale <= 0):
        return None
    target_low = -1.0 if np.any(offset < 0) else 0.0
    low = (target_low - offset) / scale
    high = (1.0 - offset) / scale
    return InputRange(_compact(low), _compact(high))


def _from_normalization(layer):
    if getattr(layer, "invert", False):
        return None
    mean = np.asarray(_values(layer.mean), "float64")
    if np.max(mean) > 1.5:
        return InputRange(0, 255)
    if np.min(mean) < 0:
        return InputRange(-1, 1)
    return InputRange(0, 1)


def _compact(values):
    """A scalar when every channel has the same value (float noise off)."""
    values = np.round(np.asarray(values, "float64").reshape(-1), 6)
    if np.allclose(values, values[0]):
        return float(values[0])
    return tuple(float(v) for v in values)


def probe_images(input_range, shape, seed=0):
    """Smooth random images in `input_range`, numpy float32 `shape`.

    Natural images are smooth: independent per-pixel noise would give a
    first convolution far smaller outputs than real images. Each probe
    image is a 4x4 grid of uniform random values, upsampled bilinearly
    to the image size, one grid per channel, then mapped into the domain
    (per-batch standardised for the standardized domain).
    """
    rng = np.random.default_rng(seed)
    n, height, width, channels = shape
    coarse = rng.uniform(0.0, 1.0, (n, 4, 4, channels)).astype("float32")
    pixels = keras.ops.convert_to_numpy(
        keras.ops.image.resize(
            coarse, (height, width), interpolation="bilinear"
        )
    )
    pixels = np.clip(pixels, 0.0, 1.0)
    return np.asarray(
        keras.ops.convert_to_numpy(input_range.from_pixels(pixels)), "float32"
    )


def estimate_input_mean(teacher):
    """The mismatch test's estimate of the training images' channel means.

    Args:
        teacher: a `keras_dfkd.teacher.Teacher`.

    Returns:
        The per-channel means `mu` (numpy), the weighted least-squares
        solution of the module docstring's equation; `None` without
        BatchNorm or when the first BatchNormalization does not read an
        affine function of the image.
    """
    if not teacher.batch_norm_layers:
        return None
    first = teacher.batch_norm_layers[0]
    shape = teacher.input_shape
    channels = shape[-1]
    # One teacher call: two random images x and y, their mix, and the
    # constant images 0 and e_c.
    x, y = np.random.default_rng(0).normal(size=(2,) + shape)
    constants = np.broadcast_to(
        np.concatenate([np.zeros((1, channels)), np.eye(channels)])[
            :, None, None, :
        ],
        (channels + 1,) + shape,
    )
    images = np.concatenate([[x, y, 0.3 * x + 0.7 * y], constants])
    outputs = teacher(images.astype("float32"))["batch_norm_inputs"][0]
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs), "float64")
    fx, fy, mixed = outputs[:3]
    scale = np.max(np.abs(fx)) + 1e-12
    if np.max(np.abs(mixed - 0.3 * fx - 0.7 * fy)) > 1e-3 * scale:
        return None  # Not affine: the stored means say nothing simple.
    means = outputs[3:].reshape(channels + 1, -1, outputs.shape[-1])
    means = means.mean(axis=1)  # Spatial mean of each constant image's map.
    moving_mean = np.asarray(
        keras.ops.convert_to_numpy(first.moving_mean), "float64"
    )
    moving_var = np.asarray(
        keras.ops.convert_to_numpy(first.moving_variance), "float64"
    )
    weight = 1.0 / np.sqrt(moving_var + first.epsilon)
    base, columns = means[0], (means[1:] - means[0]).T
    mu, *_ = np.linalg.lstsq(
        columns * weight[:, None], (moving_mean - base) * weight, rcond=None
    )
    return mu


def suggested_range(mu):
    """The range a per-channel training mean `mu` points to (a string)."""
    if np.max(mu) > 1.5:
        return "(0, 255)"
    if np.min(mu) >= 0:
        return "(0, 1)"
    return "(-1, 1)"


def _first_statistics_distance(teacher):
    """`d(x)` of the module docstring, and the first BN's input model."""
    position = teacher.batch_norm_layers[0]
    index = 2 if teacher.has_features else 1  # After logits (and features).
    first = keras.Model(
        teacher.extractor.input, teacher.extractor.outputs[index]
    )
    moving_mean = keras.ops.convert_to_tensor(
        keras.ops.convert_to_numpy(position.moving_mean), "float32"
    )
    moving_var = keras.ops.convert_to_tensor(
        keras.ops.convert_to_numpy(position.moving_variance), "float32"
    )
    eps = float(position.epsilon)
    axis = position.axis

    def distance(images):
        features = keras.ops.cast(first(images, training=False), "float32")
        rank = len(features.shape)
        if axis % rank != rank - 1:
            features = keras.ops.moveaxis(features, axis, -1)
        features = keras.ops.reshape(features, (-1, features.shape[-1]))
        mean, var = keras.ops.moments(features, axes=(0,))
        return keras.ops.mean(
            keras.ops.square(mean - moving_mean) / (moving_var + eps)
            + keras.ops.square(keras.ops.log((var + eps) / (moving_var + eps)))
        )

    return distance


def _minimise(distance, parametrise, shape, seed=0):
    """Adam on a batch of images; returns `(distance, images)` at the end."""
    from keras_dfkd import backend

    theta = np.random.default_rng(seed).normal(size=shape).astype("float32")
    first, second = np.zeros_like(theta), np.zeros_like(theta)
    value_and_grad = backend.compiled_input_gradient(
        lambda t: distance(parametrise(t))
    )
    for step in range(1, PROBE_STEPS + 1):
        _, grad = value_and_grad(keras.ops.convert_to_tensor(theta))
        grad = np.asarray(keras.ops.convert_to_numpy(grad), "float32")
        first = 0.9 * first + 0.1 * grad
        second = 0.999 * second + 0.001 * grad * grad
        theta -= (0.1 * first / (1 - 0.9**step)) / (
            np.sqrt(second / (1 - 0.999**step)) + 1e-8
        )
    images = parametrise(keras.ops.convert_to_tensor(theta))
    value = float(keras.ops.convert_to_numpy(distance(images)))
    return value, np.asarray(keras.ops.convert_to_numpy(images))


def mismatch_test(teacher):
    """Runs the mismatch test on a teacher (module docstring).

    Args:
        teacher: a `keras_dfkd.teacher.Teacher`.

    Returns:
        A dict with `"mismatch"` (bool), `"suggestion"` (the range to
        declare, a string, or `None`), `"mean"` (the estimated per-channel
        training mean, or `None`) and, when the optimisations ran,
        `"standardized_distance"` and `"free_distance"`; `None` for a
        teacher without BatchNorm.
    """
    if not teacher.batch_norm_layers:
        return None
    mean = estimate_input_mean(teacher)
    result = {"mismatch": False, "suggestion": None, "mean": mean}
    if mean is not None and np.max(np.abs(mean)) < MEAN_TOLERANCE:
        return result
    distance = _first_statistics_distance(teacher)
    shape = (PROBE_BATCH,) + teacher.input_shape
    standardized, _ = _minimise(
        distance, InputRange.standardized().from_pixels, shape
    )
    free, images = _minimise(distance, lambda t: t, shape)
    result.update(standardized_distance=standardized, free_distance=free)
    if standardized > MISMATCH_DISTANCE and standardized > (
        MISMATCH_RATIO * free
    ):
        if mean is None:
            mean = images.reshape(-1, images.shape[-1]).mean(axis=0)
        result.update(
            mismatch=True, mean=mean, suggestion=suggested_range(mean)
        )
    return result


def warn_if_not_standardized(teacher):
    """Warns when the teacher's first BN statistics contradict the default.

    Returns:
        The `mismatch_test` result (`None` for a teacher without BN).
    """
    result = mismatch_test(teacher)
    if result and result["mismatch"]:
        means = ", ".join(f"{m:.3g}" for m in result["mean"])
        fix = result["suggestion"]
        warnings.warn(
            f"The teacher {teacher.model.name!r} was given no input_range "
            "and declares none, so keras_dfkd assumes it was trained on "
            "per-channel standardised images (mean 0, std 1). Its first "
            "BatchNormalization statistics disagree: no standardised "
            "batch reproduces them (distance "
            f"{result['standardized_distance']:.3g} against "
            f"{result['free_distance']:.3g} without the constraint), and "
            f"they point to training images with a mean of {means}, i.e. "
            f"pixels in {fix}. Synthetic images outside the teacher's "
            "training domain teach the student little. Pass the range the "
            "teacher was trained on, e.g. DataFreeDistiller(..., "
            f"input_range={fix}), or input_range='standardized' to keep "
            "the default and silence this warning.",
            stacklevel=4,
        )
    return result
