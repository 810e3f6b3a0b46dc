"""Pre-activation Wide ResNets (WRN-d-k) as used by ZSKT and RepDistiller."""

import numbers

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import batch_norm_layer
from keras_dfkd.models._common import conv1x1
from keras_dfkd.models._common import conv3x3
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes


def _wide_basic_block(x, filters, strides, dropout_rate, name):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 + shortcut.

    As in the reference code, when the block changes the number of channels
    the pre-activation `ReLU(BN(x))` feeds both the residual branch and the
    1x1-conv shortcut; otherwise the identity shortcut takes the raw `x`.
    """
    in_channels = x.shape[-1]
    preact = batch_norm_layer(name=name + "_bn1")(x)
    preact = keras.layers.ReLU(name=name + "_relu1")(preact)
    if in_channels == filters and strides == 1:
        shortcut = x
    else:
        shortcut = conv1x1(
            preact, filters, strides, name=name + "_shortcut_conv"
        )
    y = conv3x3(preact, filters, strides, use_bias=False, name=name + "_conv1")
    y = batch_norm_layer(name=name + "_bn2")(y)
    y = keras.layers.ReLU(name=name + "_relu2")(y)
    if dropout_rate > 0:
        y = keras.layers.Dropout(dropout_rate, name=name + "_dropout")(y)
    y = conv3x3(y, filters, 1, use_bias=False, name=name + "_conv2")
    return keras.layers.Add(name=name + "_add")([shortcut, y])


@keras_dfkd_export("keras_dfkd.models.wide_resnet")
def wide_resnet(
    depth,
    width,
    num_classes=10,
    input_shape=(32, 32, 3),
    dropout_rate=0.0,
    name=None,
):
    """Builds a pre-activation Wide ResNet WRN-`depth`-`width`.

    The CIFAR Wide ResNet of Zagoruyko & Komodakis as implemented in the
    ZSKT and RepDistiller code bases: a bias-free 3x3 convolution stem with
    16 filters, three stages of `n = (depth - 4) / 6` pre-activation blocks
    (BN-ReLU-conv3x3-BN-ReLU-conv3x3, bias-free) with widths `16 * width`,
    `32 * width`, `64 * width` and strides 1, 2, 2, a bias-free 1x1-conv
    shortcut on blocks that change the number of channels, then a final
    BN-ReLU, global average pooling and a `Dense(num_classes)` classifier.
    Batch normalization uses `momentum=0.9, epsilon=1e-5`; stride-2
    convolutions are padded like PyTorch (one pixel on each side).

    The model outputs logits (no softmax). The input of its last layer (the
    `Dense` classifier named `"logits"`) is the penultimate feature.

    Args:
        depth: int. Total depth; must be of the form `6 * n + 4` with
            `n >= 1` (e.g. 16, 28, 40).
        width: int. The widening factor `k` (positive).
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Height and width may be `None` (variable size). Defaults to
            `(32, 32, 3)`.
        dropout_rate: float. Dropout rate between the two convolutions of
            each block (`0.0` disables it, the reference setting). Defaults
            to `0.0`.
        name: str or `None`. The model name; defaults to
            `"wrn_{depth}_{width}"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `depth` is not `6 * n + 4`, `width` is not a positive
            integer, or `input_shape` is not a valid rank-3 shape.

    Example:

    >>> model = keras_dfkd.models.wide_resnet(depth=28, width=10)
    >>> model.output_shape
    (None, 10)

    Reference:
        - [Zagoruyko & Komodakis, 2016. Wide Residual Networks](
          https://arxiv.org/abs/1605.07146)
        - [Micaelli & Storkey, 2019. Zero-shot Knowledge Transfer via
          Adversarial Belief Matching (ZSKT)](
          https://arxiv.org/abs/1905.09768)
        - [Tian et al., 2020. Contrastive Representation Distillation
          (RepDistiller)](https://arxiv.org/abs/1910.10699)
    """
    if (
        not isinstance(depth, numbers.Integral)
        or isinstance(depth, bool)
        or depth < 10
        or (depth - 4) % 6 != 0
    ):
        raise ValueError(
            "`wide_resnet` expects `depth` to be of the form 6 * n + 4 with "
            f"n >= 1 (e.g. 16, 28, 40). Received: depth={depth!r}"
        )
    if (
        not isinstance(width, numbers.Integral)
        or isinstance(width, bool)
        or width < 1
    ):
        raise ValueError(
            "`wide_resnet` expects `width` to be a positive integer. "
            f"Received: width={width!r}"
        )
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(
            "`wide_resnet` expects `0 <= dropout_rate < 1`. Received: "
            f"dropout_rate={dropout_rate!r}"
        )
    depth, width = int(depth), int(width)
    if name is None:
        name = f"wrn_{depth}_{width}"
    input_shape = validate_input_shape(input_shape, name)
    validate_num_classes(num_classes, name)

    blocks_per_stage = (depth - 4) // 6
    widths = (16 * width, 32 * width, 64 * width)
    strides = (1, 2, 2)

    inputs = keras.Input(shape=input_shape, name="input")
    x = conv3x3(inputs, 16, 1, use_bias=False, name="stem_conv")
    for stage, (filters, stride) in enumerate(zip(widths, strides), start=1):
        for block in range(1, blocks_per_stage + 1):
            x = _wide_basic_block(
                x,
                filters,
                stride if block == 1 else 1,
                dropout_rate,
                name=f"stage{stage}_block{block}",
            )
    x = batch_norm_layer(name="final_bn")(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(
        data_format=DATA_FORMAT, name="avg_pool"
    )(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@keras_dfkd_export("keras_dfkd.models.wrn_40_2")
def wrn_40_2(
    num_classes=10, input_shape=(32, 32, 3), dropout_rate=0.0, name="wrn_40_2"
):
    """Builds WRN-40-2, a pre-activation Wide ResNet.

    Shorthand for `wide_resnet(depth=40, width=2, ...)`; see
    `keras_dfkd.models.wide_resnet` for the architecture.

    Parameter count (trainable): 2,243,546 for 10 classes, 2,255,156 for
    100 classes.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Height and width may be `None`. Defaults to `(32, 32, 3)`.
        dropout_rate: float. Dropout rate inside each block. Defaults to
            `0.0`.
        name: str. The model name. Defaults to `"wrn_40_2"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not a valid rank-3 shape.

    Example:

    >>> model = keras_dfkd.models.wrn_40_2(num_classes=100)
    >>> model.output_shape
    (None, 100)

    Reference:
        - [Zagoruyko & Komodakis, 2016. Wide Residual Networks](
          https://arxiv.org/abs/1605.07146)
        - [Micaelli & Storkey, 2019. Zero-shot Knowledge Transfer via
          Adversarial Belief Matching (ZSKT)](
          https://arxiv.org/abs/1905.09768)
    """
    return wide_resnet(40, 2, num_classes, input_shape, dropout_rate, name)


@keras_dfkd_export("keras_dfkd.models.wrn_40_1")
def wrn_40_1(
    num_classes=10, input_shape=(32, 32, 3), dropout_rate=0.0, name="wrn_40_1"
):
    """Builds WRN-40-1, a pre-activation Wide ResNet.

    Shorthand for `wide_resnet(depth=40, width=1, ...)`; see
    `keras_dfkd.models.wide_resnet` for the architecture.

    Parameter count (trainable): 563,930 for 10 classes, 569,780 for
    100 classes.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Height and width may be `None`. Defaults to `(32, 32, 3)`.
        dropout_rate: float. Dropout rate inside each block. Defaults to
            `0.0`.
        name: str. The model name. Defaults to `"wrn_40_1"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not a valid rank-3 shape.

    Example:

    >>> model = keras_dfkd.models.wrn_40_1(num_classes=100)
    >>> model.output_shape
    (None, 100)

    Reference:
        - [Zagoruyko & Komodakis, 2016. Wide Residual Networks](
          https://arxiv.org/abs/1605.07146)
        - [Micaelli & Storkey, 2019. Zero-shot Knowledge Transfer via
          Adversarial Belief Matching (ZSKT)](
          https://arxiv.org/abs/1905.09768)
    """
    return wide_resnet(40, 1, num_classes, input_shape, dropout_rate, name)


@keras_dfkd_export("keras_dfkd.models.wrn_16_2")
def wrn_16_2(
    num_classes=10, input_shape=(32, 32, 3), dropout_rate=0.0, name="wrn_16_2"
):
    """Builds WRN-16-2, a pre-activation Wide ResNet.

    Shorthand for `wide_resnet(depth=16, width=2, ...)`; see
    `keras_dfkd.models.wide_resnet` for the architecture.

    Parameter count (trainable): 691,674 for 10 classes, 703,284 for
    100 classes.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Height and width may be `None`. Defaults to `(32, 32, 3)`.
        dropout_rate: float. Dropout rate inside each block. Defaults to
            `0.0`.
        name: str. The model name. Defaults to `"wrn_16_2"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not a valid rank-3 shape.

    Example:

    >>> model = keras_dfkd.models.wrn_16_2(num_classes=100)
    >>> model.output_shape
    (None, 100)

    Reference:
        - [Zagoruyko & Komodakis, 2016. Wide Residual Networks](
          https://arxiv.org/abs/1605.07146)
        - [Micaelli & Storkey, 2019. Zero-shot Knowledge Transfer via
          Adversarial Belief Matching (ZSKT)](
          https://arxiv.org/abs/1905.09768)
    """
    return wide_resnet(16, 2, num_classes, input_shape, dropout_rate, name)


@keras_dfkd_export("keras_dfkd.models.wrn_16_1")
def wrn_16_1(
    num_classes=10, input_shape=(32, 32, 3), dropout_rate=0.0, name="wrn_16_1"
):
    """Builds WRN-16-1, a pre-activation Wide ResNet.

    Shorthand for `wide_resnet(depth=16, width=1, ...)`; see
    `keras_dfkd.models.wide_resnet` for the architecture.

    Parameter count (trainable): 175,066 for 10 classes, 180,916 for
    100 classes.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Height and width may be `None`. Defaults to `(32, 32, 3)`.
        dropout_rate: float. Dropout rate inside each block. Defaults to
            `0.0`.
        name: str. The model name. Defaults to `"wrn_16_1"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not a valid rank-3 shape.

    Example:

    >>> model = keras_dfkd.models.wrn_16_1(num_classes=100)
    >>> model.output_shape
    (None, 100)

    Reference:
        - [Zagoruyko & Komodakis, 2016. Wide Residual Networks](
          https://arxiv.org/abs/1605.07146)
        - [Micaelli & Storkey, 2019. Zero-shot Knowledge Transfer via
          Adversarial Belief Matching (ZSKT)](
          https://arxiv.org/abs/1905.09768)
    """
    return wide_resnet(16, 1, num_classes, input_shape, dropout_rate, name)
