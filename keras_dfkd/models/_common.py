"""Shared helpers for the reference model builders (private)."""

import numbers

import keras

# PyTorch's `nn.BatchNorm2d` defaults, expressed in Keras terms: PyTorch
# updates `running = (1 - 0.1) * running + 0.1 * batch`, which is Keras'
# `momentum=0.9`.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
DATA_FORMAT = "channels_last"


def batch_norm_layer(name):
    """Returns a `BatchNormalization` layer with PyTorch-equivalent defaults.

    Args:
        name: str. The layer name.

    Returns:
        A `keras.layers.BatchNormalization` over the last (channels) axis.
    """
    return keras.layers.BatchNormalization(
        axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name
    )


def conv_initializer():
    """He-normal initializer with fan-out scaling (PyTorch CIFAR recipes).

    A fresh instance is returned on every call so that no initializer
    object is shared between layers.

    Returns:
        A `keras.initializers.VarianceScaling` instance.
    """
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def conv3x3(x, filters, strides, use_bias, name):
    """3x3 convolution with PyTorch-style symmetric padding of 1.

    For stride 1, `padding="same"` is identical to PyTorch's `padding=1`.
    For stride 2, Keras' `"same"` padding puts the extra row/column at the
    bottom/right only, whereas PyTorch pads 1 on every side; an explicit
    `ZeroPadding2D(1)` followed by a `"valid"` convolution reproduces
    PyTorch exactly (so that ported weights give identical outputs).

    Args:
        x: the input tensor (channels_last).
        filters: int. Number of output channels.
        strides: int. 1 or 2.
        use_bias: bool. Whether the convolution has a bias.
        name: str. Name of the convolution layer; the padding layer, if any,
            is named `name + "_pad"`.

    Returns:
        The output tensor.
    """
    if strides == 1:
        padding = "same"
    else:
        x = keras.layers.ZeroPadding2D(
            padding=1, data_format=DATA_FORMAT, name=name + "_pad"
        )(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters,
        3,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=conv_initializer(),
        data_format=DATA_FORMAT,
        name=name,
    )(x)


def conv1x1(x, filters, strides, name):
    """Bias-free 1x1 convolution (projection shortcut), no padding.

    Args:
        x: the input tensor (channels_last).
        filters: int. Number of output channels.
        strides: int. The stride.
        name: str. The layer name.

    Returns:
        The output tensor.
    """
    return keras.layers.Conv2D(
        filters,
        1,
        strides=strides,
        padding="valid",
        use_bias=False,
        kernel_initializer=conv_initializer(),
        data_format=DATA_FORMAT,
        name=name,
    )(x)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def validate_input_shape(
    input_shape, model_name, min_size=1, allow_none_spatial=True
):
    """Checks a `(height, width, channels)` input shape.

    Args:
        input_shape: the `input_shape` argument given to a builder.
        model_name: str. Used in error messages.
        min_size: int. The smallest height and width the architecture
            accepts.
        allow_none_spatial: bool. Whether `None` (variable) height/width is
            accepted.

    Returns:
        The input shape as a tuple.

    Raises:
        ValueError: if the shape is not rank 3, has non-positive or
            non-integer entries, or a spatial size below `min_size`.
    """
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            f"`{model_name}` expects `input_shape` to be a rank-3 tuple "
            "`(height, width, channels)` (channels_last, without the batch "
            f"dimension). Received: input_shape={input_shape!r}"
        )
    input_shape = tuple(int(d) if _is_int(d) else d for d in input_shape)
    height, width, channels = input_shape
    if not _is_int(channels) or channels < 1:
        raise ValueError(
            f"`{model_name}` expects a known, positive number of channels "
            "as the last entry of `input_shape`. Received: "
            f"input_shape={input_shape!r}"
        )
    for dim_name, dim in (("height", height), ("width", width)):
        if dim is None:
            if allow_none_spatial:
                continue
            raise ValueError(
                f"`{model_name}` needs a known input {dim_name} (it "
                "flattens its feature map). Received: "
                f"input_shape={input_shape!r}"
            )
        if not _is_int(dim) or dim < 1:
            raise ValueError(
                f"`{model_name}` expects positive integer height and width "
                f"in `input_shape`. Received: input_shape={input_shape!r}"
            )
        if dim < min_size:
            raise ValueError(
                f"`{model_name}` needs inputs of at least "
                f"{min_size}x{min_size} pixels; the input {dim_name} {dim} "
                "is too small for its convolutions and pooling. Received: "
                f"input_shape={input_shape!r}"
            )
    return input_shape


def validate_num_classes(num_classes, model_name):
    """Checks that `num_classes` is a positive integer.

    Args:
        num_classes: the `num_classes` argument given to a builder.
        model_name: str. Used in error messages.

    Raises:
        ValueError: if `num_classes` is not a positive integer.
    """
    if not _is_int(num_classes) or num_classes < 1:
        raise ValueError(
            f"`{model_name}` expects `num_classes` to be a positive integer. "
            f"Received: num_classes={num_classes!r}"
        )
