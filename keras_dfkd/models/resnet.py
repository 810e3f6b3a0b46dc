"""CIFAR-style ResNet-18 and ResNet-34 (the DAFL / DFAD teachers)."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import batch_norm_layer
from keras_dfkd.models._common import conv1x1
from keras_dfkd.models._common import conv3x3
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes

_STAGE_WIDTHS = (64, 128, 256, 512)
_STAGE_STRIDES = (1, 2, 2, 2)


def _basic_block(x, filters, strides, name):
    """Post-activation BasicBlock with a projection shortcut if needed."""
    in_channels = x.shape[-1]
    shortcut = x
    if strides != 1 or in_channels != filters:
        shortcut = conv1x1(x, filters, strides, name=name + "_shortcut_conv")
        shortcut = batch_norm_layer(name=name + "_shortcut_bn")(shortcut)

    y = conv3x3(x, filters, strides, use_bias=False, name=name + "_conv1")
    y = batch_norm_layer(name=name + "_bn1")(y)
    y = keras.layers.ReLU(name=name + "_relu1")(y)
    y = conv3x3(y, filters, 1, use_bias=False, name=name + "_conv2")
    y = batch_norm_layer(name=name + "_bn2")(y)
    y = keras.layers.Add(name=name + "_add")([y, shortcut])
    return keras.layers.ReLU(name=name + "_out")(y)


def _resnet(blocks_per_stage, num_classes, input_shape, name):
    input_shape = validate_input_shape(input_shape, name)
    validate_num_classes(num_classes, name)

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv3x3(inputs, 64, 1, use_bias=False, name="stem_conv")
    x = batch_norm_layer(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, (num_blocks, width, stride) in enumerate(
        zip(blocks_per_stage, _STAGE_WIDTHS, _STAGE_STRIDES), start=1
    ):
        for block in range(1, num_blocks + 1):
            x = _basic_block(
                x,
                width,
                stride if block == 1 else 1,
                name=f"stage{stage}_block{block}",
            )
    x = keras.layers.GlobalAveragePooling2D(
        data_format=DATA_FORMAT, name="avg_pool"
    )(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@keras_dfkd_export("keras_dfkd.models.resnet18")
def resnet18(num_classes=10, input_shape=(32, 32, 3), name="resnet18"):
    """Builds the CIFAR variant of ResNet-18.

    The CIFAR ResNet used by DAFL and DFAD: a 3x3 stride-1 convolution stem
    with 64 filters + BN + ReLU and no max-pool, four stages of two
    BasicBlocks with widths 64, 128, 256, 512 and strides 1, 2, 2, 2
    (1x1-conv + BN projection shortcut where the shape changes, bias-free
    convolutions), global average pooling and a `Dense(num_classes)`
    classifier. Stride-2 convolutions are padded like PyTorch (one pixel on
    each side). Batch normalization uses `momentum=0.9, epsilon=1e-5`.

    The model outputs logits (no softmax). The input of its last layer (the
    `Dense` classifier named `"logits"`) is the 512-d penultimate feature.

    Parameter count (trainable): 11,173,962 for 10 classes, 11,220,132 for
    100 classes.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Height and width may be `None` (variable size). Defaults to
            `(32, 32, 3)`.
        name: str. The model name. Defaults to `"resnet18"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not a valid rank-3 shape.

    Example:

    >>> model = keras_dfkd.models.resnet18(num_classes=100)
    >>> model.output_shape
    (None, 100)

    Reference:
        - [He et al., 2016. Deep Residual Learning for Image Recognition](
          https://arxiv.org/abs/1512.03385)
        - [Chen et al., 2019. Data-Free Learning of Student Networks (DAFL)](
          https://arxiv.org/abs/1904.01186)
    """
    return _resnet((2, 2, 2, 2), num_classes, input_shape, name)


@keras_dfkd_export("keras_dfkd.models.resnet34")
def resnet34(num_classes=10, input_shape=(32, 32, 3), name="resnet34"):
    """Builds the CIFAR variant of ResNet-34.

    The CIFAR ResNet used by DAFL and DFAD as a teacher: a 3x3 stride-1
    convolution stem with 64 filters + BN + ReLU and no max-pool, four
    stages of 3, 4, 6 and 3 BasicBlocks with widths 64, 128, 256, 512 and
    strides 1, 2, 2, 2 (1x1-conv + BN projection shortcut where the shape
    changes, bias-free convolutions), global average pooling and a
    `Dense(num_classes)` classifier. Stride-2 convolutions are padded like
    PyTorch (one pixel on each side). Batch normalization uses
    `momentum=0.9, epsilon=1e-5`.

    The model outputs logits (no softmax). The input of its last layer (the
    `Dense` classifier named `"logits"`) is the 512-d penultimate feature.

    Parameter count (trainable): 21,282,122 for 10 classes, 21,328,292 for
    100 classes.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Height and width may be `None` (variable size). Defaults to
            `(32, 32, 3)`.
        name: str. The model name. Defaults to `"resnet34"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not a valid rank-3 shape.

    Example:

    >>> model = keras_dfkd.models.resnet34()
    >>> model.output_shape
    (None, 10)

    Reference:
        - [He et al., 2016. Deep Residual Learning for Image Recognition](
          https://arxiv.org/abs/1512.03385)
        - [Chen et al., 2019. Data-Free Learning of Student Networks (DAFL)](
          https://arxiv.org/abs/1904.01186)
    """
    return _resnet((3, 4, 6, 3), num_classes, input_shape, name)
