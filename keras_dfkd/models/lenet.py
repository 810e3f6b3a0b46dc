"""LeNet-5 and LeNet-5-half, as used for MNIST in DAFL."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import batch_norm_layer
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes

_KERNEL_SIZE = 5


def _lenet_feature_size(size):
    """Spatial size after conv5 -> pool2 -> conv5 -> pool2 -> conv5."""
    size = size - (_KERNEL_SIZE - 1)
    size = size // 2
    size = size - (_KERNEL_SIZE - 1)
    size = size // 2
    return size - (_KERNEL_SIZE - 1)


def _lenet_min_size():
    """Smallest input height/width leaving a >= 1x1 final feature map."""
    size = 1
    while _lenet_feature_size(size) < 1:
        size += 1
    return size


# 32: (32 - 4) = 28 -> 14 -> 10 -> 5 -> 1.
LENET_MIN_INPUT_SIZE = _lenet_min_size()


def _lenet(
    filters, hidden_units, num_classes, input_shape, use_batch_norm, name
):
    input_shape = validate_input_shape(
        input_shape,
        name,
        min_size=LENET_MIN_INPUT_SIZE,
        allow_none_spatial=False,
    )
    validate_num_classes(num_classes, name)

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            f,
            _KERNEL_SIZE,
            padding="valid",
            data_format=DATA_FORMAT,
            name=f"conv{i}",
        )(x)
        if use_batch_norm:
            x = batch_norm_layer(name=f"conv{i}_bn")(x)
        x = keras.layers.ReLU(name=f"conv{i}_relu")(x)
        if i < len(filters):
            x = keras.layers.MaxPooling2D(
                pool_size=2, data_format=DATA_FORMAT, name=f"pool{i}"
            )(x)
    x = keras.layers.Flatten(data_format=DATA_FORMAT, name="flatten")(x)
    x = keras.layers.Dense(hidden_units, name="fc1")(x)
    if use_batch_norm:
        x = batch_norm_layer(name="fc1_bn")(x)
    x = keras.layers.ReLU(name="fc1_relu")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@keras_dfkd_export("keras_dfkd.models.lenet5")
def lenet5(
    num_classes=10, input_shape=(32, 32, 1), batch_norm=True, name="lenet5"
):
    """Builds LeNet-5, the MNIST teacher of DAFL.

    Three 5x5 "valid" convolutions (6, 16 and 120 filters) with ReLU, a 2x2
    max-pool after each of the first two, then `Dense(84)` + ReLU and the
    `Dense(num_classes)` classifier. With `batch_norm=True` (the default), a
    `BatchNormalization(momentum=0.9, epsilon=1e-5)` sits between each of the
    three convolutions and the `Dense(84)` and their ReLU (biases are kept);
    data-free distillation methods read these statistics from a teacher.

    On a 32x32 input the last convolution outputs a 1x1x120 map, exactly as
    in the original network. Larger inputs are accepted; the flattened
    feature (and the parameter count of `Dense(84)`) then grows.

    The model outputs logits (no softmax). The input of its last layer (the
    `Dense` classifier named `"logits"`) is the penultimate feature.

    Parameter count (trainable, for a `(32, 32, 1)` input and 10 classes):
    61,706 without batch norm, 62,158 with it.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last, with
            height and width of at least 32. Defaults to `(32, 32, 1)`.
        batch_norm: bool. Whether to add batch normalization before each
            hidden ReLU. Defaults to `True`.
        name: str. The model name. Defaults to `"lenet5"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not rank 3, or is smaller than 32x32.

    Example:

    >>> model = keras_dfkd.models.lenet5()
    >>> model.output_shape
    (None, 10)
    >>> model.layers[-1].input.shape  # The penultimate feature.
    (None, 84)

    Reference:
        - [LeCun et al., 1998. Gradient-based learning applied to document
          recognition](https://doi.org/10.1109/5.726791)
        - [Chen et al., 2019. Data-Free Learning of Student Networks (DAFL)](
          https://arxiv.org/abs/1904.01186)
    """
    return _lenet(
        filters=(6, 16, 120),
        hidden_units=84,
        num_classes=num_classes,
        input_shape=input_shape,
        use_batch_norm=batch_norm,
        name=name,
    )


@keras_dfkd_export("keras_dfkd.models.lenet5_half")
def lenet5_half(
    num_classes=10,
    input_shape=(32, 32, 1),
    batch_norm=True,
    name="lenet5_half",
):
    """Builds LeNet-5-half, the MNIST student of DAFL.

    LeNet-5 with half the channels: 5x5 "valid" convolutions with 3, 8 and 60
    filters (2x2 max-pool after the first two), `Dense(42)` + ReLU, and the
    `Dense(num_classes)` classifier. With `batch_norm=True` (the default), a
    `BatchNormalization(momentum=0.9, epsilon=1e-5)` sits before each hidden
    ReLU (biases are kept).

    The model outputs logits (no softmax). The input of its last layer (the
    `Dense` classifier named `"logits"`) is the penultimate feature.

    Parameter count (trainable, for a `(32, 32, 1)` input and 10 classes):
    15,738 without batch norm, 15,964 with it.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last, with
            height and width of at least 32. Defaults to `(32, 32, 1)`.
        batch_norm: bool. Whether to add batch normalization before each
            hidden ReLU. Defaults to `True`.
        name: str. The model name. Defaults to `"lenet5_half"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not rank 3, or is smaller than 32x32.

    Example:

    >>> model = keras_dfkd.models.lenet5_half(batch_norm=False)
    >>> model.count_params()
    15738

    Reference:
        - [Chen et al., 2019. Data-Free Learning of Student Networks (DAFL)](
          https://arxiv.org/abs/1904.01186)
    """
    return _lenet(
        filters=(3, 8, 60),
        hidden_units=42,
        num_classes=num_classes,
        input_shape=input_shape,
        use_batch_norm=batch_norm,
        name=name,
    )
