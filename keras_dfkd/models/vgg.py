"""CIFAR-style VGG-11 with batch normalization (RepDistiller variant)."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import batch_norm_layer
from keras_dfkd.models._common import conv3x3
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes

# Configuration "A" (VGG-11), grouped into the five blocks of RepDistiller.
_VGG11_BLOCKS = ((64,), (128,), (256, 256), (512, 512), (512, 512))

# Three 2x2 max-pools always follow blocks 1-3.
VGG_MIN_INPUT_SIZE = 8


def _vgg_bn(blocks, num_classes, input_shape, name):
    input_shape = validate_input_shape(
        input_shape, name, min_size=VGG_MIN_INPUT_SIZE
    )
    validate_num_classes(num_classes, name)
    # RepDistiller pools after the fourth block only for 64x64 inputs, so
    # that 32x32 (CIFAR) inputs reach the last block at 4x4.
    pool_after_block4 = input_shape[0] == 64

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for b, block_filters in enumerate(blocks, start=1):
        for c, filters in enumerate(block_filters, start=1):
            prefix = f"block{b}_"
            x = conv3x3(x, filters, 1, use_bias=True, name=prefix + f"conv{c}")
            x = batch_norm_layer(name=prefix + f"bn{c}")(x)
            x = keras.layers.ReLU(name=prefix + f"relu{c}")(x)
        if b <= 3 or (b == 4 and pool_after_block4):
            x = keras.layers.MaxPooling2D(
                pool_size=2, data_format=DATA_FORMAT, name=f"block{b}_pool"
            )(x)
    x = keras.layers.GlobalAveragePooling2D(
        data_format=DATA_FORMAT, name="avg_pool"
    )(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@keras_dfkd_export("keras_dfkd.models.vgg11_bn")
def vgg11_bn(num_classes=10, input_shape=(32, 32, 3), name="vgg11_bn"):
    """Builds the CIFAR variant of VGG-11 with batch normalization.

    The RepDistiller VGG-11-BN (configuration "A", no hidden fully-connected
    layers): five blocks of 3x3 convolutions (with bias) + BN + ReLU with
    filters `[64], [128], [256, 256], [512, 512], [512, 512]`, a 2x2
    max-pool after each of the first three blocks (and after the fourth
    block as well when the input height is 64, as in the reference code),
    global average pooling after the last block and a single
    `Dense(num_classes)` classifier on the 512-d feature. Batch
    normalization uses `momentum=0.9, epsilon=1e-5`.

    The model outputs logits (no softmax). The input of its last layer (the
    `Dense` classifier named `"logits"`) is the 512-d penultimate feature.

    Parameter count (trainable): 9,231,114 for 10 classes, 9,277,284 for
    100 classes.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last, with
            height and width of at least 8 (or `None`). Defaults to
            `(32, 32, 3)`.
        name: str. The model name. Defaults to `"vgg11_bn"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not rank 3, or is smaller than 8x8.

    Example:

    >>> model = keras_dfkd.models.vgg11_bn(num_classes=100)
    >>> model.output_shape
    (None, 100)

    Reference:
        - [Simonyan & Zisserman, 2014. Very Deep Convolutional Networks for
          Large-Scale Image Recognition](https://arxiv.org/abs/1409.1556)
        - [Tian et al., 2020. Contrastive Representation Distillation
          (RepDistiller)](https://arxiv.org/abs/1910.10699)
    """
    return _vgg_bn(_VGG11_BLOCKS, num_classes, input_shape, name)
