"""A small MobileNet-like classifier of depthwise-separable blocks."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes


def _separable_block(x, filters, strides, momentum, name):
    """Depthwise 3x3 + BN + ReLU6, then pointwise 1x1 + BN + ReLU6."""
    x = keras.layers.DepthwiseConv2D(
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        data_format=DATA_FORMAT,
        name=name + "_dw",
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=momentum, name=name + "_dw_bn"
    )(x)
    x = keras.layers.ReLU(max_value=6.0, name=name + "_dw_relu6")(x)
    x = keras.layers.Conv2D(
        filters,
        1,
        use_bias=False,
        data_format=DATA_FORMAT,
        name=name + "_pw",
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=momentum, name=name + "_pw_bn"
    )(x)
    return keras.layers.ReLU(max_value=6.0, name=name + "_pw_relu6")(x)


@keras_dfkd_export("keras_dfkd.models.mobilenet_small")
def mobilenet_small(
    num_classes=10,
    input_shape=(28, 28, 1),
    stem_filters=16,
    block_filters=(32, 64, 128, 128),
    block_strides=(2, 1, 2, 1),
    dropout_rate=0.0,
    batch_norm_momentum=0.99,
    input_rescaling=None,
    name="mobilenet_small",
):
    """Builds a small MobileNet-like CNN of depthwise-separable blocks.

    A bias-free 3x3 stem convolution with `stem_filters` filters + BN +
    ReLU6, then one depthwise-separable block per entry of
    `block_filters`: a bias-free 3x3 `DepthwiseConv2D` (stride from
    `block_strides`) + `BatchNormalization` + ReLU6, then a bias-free 1x1
    pointwise convolution + `BatchNormalization` + ReLU6 (MobileNet v1).
    The head is global average pooling, `Dropout(dropout_rate)` and the
    `Dense(num_classes)` classifier named `"logits"`. Batch normalization
    uses the Keras defaults but for `batch_norm_momentum`.

    The same builder makes a teacher (the defaults) and a student (fewer
    and narrower blocks).

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Defaults to `(28, 28, 1)`.
        stem_filters: int. Filters of the stem convolution. Defaults to
            `16`.
        block_filters: tuple of int. Pointwise filters of each block.
            Defaults to `(32, 64, 128, 128)`.
        block_strides: tuple of int, as long as `block_filters`. Stride of
            each block's depthwise convolution. Defaults to
            `(2, 1, 2, 1)`: a 28x28 input is 14x14 after the first block
            and 7x7 after the third.
        dropout_rate: float. Dropout rate before the classifier. Defaults
            to `0.0`.
        batch_norm_momentum: float. Momentum of the moving statistics of
            every `BatchNormalization`. Defaults to `0.99` (Keras' default);
            `0.9` tracks fast-changing weights better in short trainings.
        input_rescaling: `None` or float. When set, the model starts with
            `keras.layers.Rescaling(input_rescaling)`, e.g. `1 / 255` for a
            model that takes raw `[0, 255]` pixels. Defaults to `None`.
        name: str. The model name. Defaults to `"mobilenet_small"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not rank 3, `num_classes` is not a
            positive int, or `block_filters` and `block_strides` differ in
            length.

    Example:

    >>> teacher = keras_dfkd.models.mobilenet_small(input_rescaling=1 / 255)
    >>> teacher.layers[1].name
    'rescaling'
    >>> student = keras_dfkd.models.mobilenet_small(
    ...     stem_filters=8, block_filters=(16, 32), block_strides=(2, 2)
    ... )
    >>> student.output_shape
    (None, 10)
    """
    input_shape = validate_input_shape(input_shape, name)
    validate_num_classes(num_classes, name)
    if len(block_filters) != len(block_strides):
        raise ValueError(
            f"`{name}` needs one stride per block. Received: "
            f"block_filters={block_filters!r}, "
            f"block_strides={block_strides!r}"
        )

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    if input_rescaling is not None:
        x = keras.layers.Rescaling(input_rescaling, name="rescaling")(x)
    x = keras.layers.Conv2D(
        stem_filters,
        3,
        padding="same",
        use_bias=False,
        data_format=DATA_FORMAT,
        name="stem_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=batch_norm_momentum, name="stem_bn"
    )(x)
    x = keras.layers.ReLU(max_value=6.0, name="stem_relu6")(x)
    for index, (filters, strides) in enumerate(
        zip(block_filters, block_strides), start=1
    ):
        x = _separable_block(
            x, filters, strides, batch_norm_momentum, f"block{index}"
        )
    x = keras.layers.GlobalAveragePooling2D(
        data_format=DATA_FORMAT, name="avg_pool"
    )(x)
    x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
