"""A plain convolutional classifier: conv blocks, max pooling, dense head."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes


@keras_dfkd_export("keras_dfkd.models.plain_cnn")
def plain_cnn(
    num_classes=10,
    input_shape=(28, 28, 1),
    width=32,
    num_blocks=2,
    dense_units=128,
    batch_norm=True,
    batch_norm_momentum=0.99,
    input_rescaling=None,
    name="plain_cnn",
):
    """Builds a plain CNN: conv blocks with max pooling and a dense head.

    Block `i` (counting from 0) is a 3x3 "same" convolution with
    `width * 2**i` filters, then `BatchNormalization` when
    `batch_norm=True`, a ReLU and a 2x2 max-pool. The feature map is
    flattened and goes through `Dense(dense_units)` + ReLU (with batch
    normalization before the ReLU when `batch_norm=True`) and the
    `Dense(num_classes)` classifier named `"logits"`.

    With `batch_norm=False` the model has no normalization at all, the
    usual shape of a small student that data-free methods cannot read
    batch statistics from.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last, with
            height and width of at least `2**num_blocks`. Defaults to
            `(28, 28, 1)`.
        width: int. Filters of the first block; each block doubles them.
            Defaults to `32`.
        num_blocks: int. Number of conv + pool blocks. Defaults to `2`.
        dense_units: int. Units of the hidden dense layer. Defaults to
            `128`.
        batch_norm: bool. Whether to add batch normalization before each
            hidden ReLU. Defaults to `True`.
        batch_norm_momentum: float. Momentum of the moving statistics of
            every `BatchNormalization`. Defaults to `0.99` (Keras' default);
            `0.9` tracks fast-changing weights better in short trainings.
        input_rescaling: `None` or float. When set, the model starts with
            `keras.layers.Rescaling(input_rescaling)`, e.g. `1 / 255` for a
            model that takes raw `[0, 255]` pixels. Defaults to `None`.
        name: str. The model name. Defaults to `"plain_cnn"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not rank 3 or too small for
            `num_blocks` poolings, or `num_classes` is not a positive int.

    Example:

    >>> student = keras_dfkd.models.plain_cnn(width=8, batch_norm=False)
    >>> student.output_shape
    (None, 10)
    """
    input_shape = validate_input_shape(
        input_shape,
        name,
        min_size=2**num_blocks,
        allow_none_spatial=False,
    )
    validate_num_classes(num_classes, name)

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    if input_rescaling is not None:
        x = keras.layers.Rescaling(input_rescaling, name="rescaling")(x)
    for block in range(num_blocks):
        prefix = f"block{block + 1}_"
        x = keras.layers.Conv2D(
            width * 2**block,
            3,
            padding="same",
            data_format=DATA_FORMAT,
            name=prefix + "conv",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(
                momentum=batch_norm_momentum, name=prefix + "bn"
            )(x)
        x = keras.layers.ReLU(name=prefix + "relu")(x)
        x = keras.layers.MaxPooling2D(
            pool_size=2, data_format=DATA_FORMAT, name=prefix + "pool"
        )(x)
    x = keras.layers.Flatten(data_format=DATA_FORMAT, name="flatten")(x)
    x = keras.layers.Dense(dense_units, name="fc")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(
            momentum=batch_norm_momentum, name="fc_bn"
        )(x)
    x = keras.layers.ReLU(name="fc_relu")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
