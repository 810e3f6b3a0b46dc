"""A small residual CNN with global average pooling."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes


def _conv(x, filters, kernel_size, strides, name):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        data_format=DATA_FORMAT,
        name=name,
    )(x)


def _residual_block(x, filters, strides, momentum, name):
    """Two 3x3 conv + BN, added to a (projected when needed) shortcut."""
    shortcut = x
    x = _conv(x, filters, 3, strides, name + "_conv1")
    x = keras.layers.BatchNormalization(momentum=momentum, name=name + "_bn1")(
        x
    )
    x = keras.layers.ReLU(name=name + "_relu1")(x)
    x = _conv(x, filters, 3, 1, name + "_conv2")
    x = keras.layers.BatchNormalization(momentum=momentum, name=name + "_bn2")(
        x
    )
    if strides != 1 or shortcut.shape[-1] != filters:
        shortcut = _conv(shortcut, filters, 1, strides, name + "_proj")
        shortcut = keras.layers.BatchNormalization(
            momentum=momentum, name=name + "_proj_bn"
        )(shortcut)
    x = keras.layers.Add(name=name + "_add")([shortcut, x])
    return keras.layers.ReLU(name=name + "_out")(x)


@keras_dfkd_export("keras_dfkd.models.residual_cnn")
def residual_cnn(
    num_classes=10,
    input_shape=(28, 28, 1),
    width=16,
    blocks_per_stage=(1, 1, 1),
    stem_strides=1,
    batch_norm_momentum=0.99,
    include_head=True,
    name="residual_cnn",
):
    """Builds a small residual CNN with global average pooling.

    A bias-free 3x3 stem convolution with `width` filters and stride
    `stem_strides` + BN + ReLU, then one stage per entry of
    `blocks_per_stage`. Stage `s` (counting from 0) has `width * 2**s`
    filters; its first block has stride 2 for `s > 0`. A block is two
    bias-free 3x3 convolutions, each followed by `BatchNormalization`, a
    ReLU after the first; it adds a shortcut (identity, or a strided 1x1
    convolution + BN when the shape changes) and ends with a ReLU. The
    head is global average pooling and the `Dense(num_classes)`
    classifier named `"logits"`.

    With `include_head=False` the model ends at the last block and outputs
    the feature map, for use as the `base` of
    `keras_dfkd.models.nested_classifier`.

    Args:
        num_classes: int. Number of output logits (unused when
            `include_head=False`). Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Defaults to `(28, 28, 1)`.
        width: int. Filters of the stem and the first stage. Defaults to
            `16`.
        blocks_per_stage: tuple of int. Residual blocks in each stage.
            Defaults to `(1, 1, 1)`.
        stem_strides: int. Stride of the stem convolution; `2` halves the
            resolution before the first stage, four times cheaper.
            Defaults to `1`.
        batch_norm_momentum: float. Momentum of the moving statistics of
            every `BatchNormalization`. Defaults to `0.99` (Keras' default);
            `0.9` tracks fast-changing weights better in short trainings.
        include_head: bool. Whether to add the pooling and classifier.
            Defaults to `True`.
        name: str. The model name. Defaults to `"residual_cnn"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`, or to the last feature map of shape
        `(batch, h, w, width * 2**(len(blocks_per_stage) - 1))` when
        `include_head=False`.

    Raises:
        ValueError: if `input_shape` is not rank 3, or `num_classes` is not
            a positive int.

    Example:

    >>> model = keras_dfkd.models.residual_cnn(width=8)
    >>> model.output_shape
    (None, 10)
    >>> base = keras_dfkd.models.residual_cnn(include_head=False)
    >>> base.output_shape
    (None, 7, 7, 64)
    """
    input_shape = validate_input_shape(input_shape, name)
    if include_head:
        validate_num_classes(num_classes, name)

    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv(inputs, width, 3, stem_strides, "stem_conv")
    x = keras.layers.BatchNormalization(
        momentum=batch_norm_momentum, name="stem_bn"
    )(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, num_blocks in enumerate(blocks_per_stage):
        filters = width * 2**stage
        for block in range(num_blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            block_name = f"stage{stage + 1}_block{block + 1}"
            x = _residual_block(
                x, filters, strides, batch_norm_momentum, block_name
            )
    if include_head:
        x = keras.layers.GlobalAveragePooling2D(
            data_format=DATA_FORMAT, name="avg_pool"
        )(x)
        x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, x, name=name)
