"""A small VGG-style classifier: stacks of 3x3 convolutions with BN."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes


@keras_dfkd_export("keras_dfkd.models.vgg_small")
def vgg_small(
    num_classes=10,
    input_shape=(28, 28, 1),
    stage_filters=(32, 64),
    convs_per_stage=2,
    dense_units=128,
    dropout_rate=0.3,
    batch_norm_momentum=0.99,
    name="vgg_small",
):
    """Builds a small VGG-style CNN for 28-32 px images.

    Each stage stacks `convs_per_stage` 3x3 "same" convolutions, each
    followed by `BatchNormalization(momentum=batch_norm_momentum)` and a
    ReLU, and
    ends with a 2x2 max-pool. The feature map is flattened and goes
    through `Dense(dense_units)` + ReLU, `Dropout(dropout_rate)` and the
    `Dense(num_classes)` classifier named `"logits"`.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last, with
            height and width of at least `2**len(stage_filters)`. Defaults
            to `(28, 28, 1)`.
        stage_filters: tuple of int. Filters of the convolutions of each
            stage. Defaults to `(32, 64)`.
        convs_per_stage: int. Convolutions per stage. Defaults to `2`.
        dense_units: int. Units of the hidden dense layer. Defaults to
            `128`.
        dropout_rate: float. Dropout rate before the classifier. Defaults
            to `0.3`.
        batch_norm_momentum: float. Momentum of the moving statistics of
            every `BatchNormalization`. Defaults to `0.99` (Keras' default);
            `0.9` tracks fast-changing weights better in short trainings.
        name: str. The model name. Defaults to `"vgg_small"`.

    Returns:
        A Functional `keras.Model` mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `input_shape` is not rank 3 or too small for the
            poolings, or `num_classes` is not a positive int.

    Example:

    >>> model = keras_dfkd.models.vgg_small(stage_filters=(16, 32))
    >>> model.output_shape
    (None, 10)
    """
    input_shape = validate_input_shape(
        input_shape,
        name,
        min_size=2 ** len(stage_filters),
        allow_none_spatial=False,
    )
    validate_num_classes(num_classes, name)

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for stage, filters in enumerate(stage_filters, start=1):
        for conv in range(1, convs_per_stage + 1):
            prefix = f"stage{stage}_"
            x = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                data_format=DATA_FORMAT,
                name=prefix + f"conv{conv}",
            )(x)
            x = keras.layers.BatchNormalization(
                momentum=batch_norm_momentum, name=prefix + f"bn{conv}"
            )(x)
            x = keras.layers.ReLU(name=prefix + f"relu{conv}")(x)
        x = keras.layers.MaxPooling2D(
            pool_size=2, data_format=DATA_FORMAT, name=f"stage{stage}_pool"
        )(x)
    x = keras.layers.Flatten(data_format=DATA_FORMAT, name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="fc")(x)
    x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
