"""A transfer-learning-shaped classifier around a nested feature extractor."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import DATA_FORMAT
from keras_dfkd.models._common import validate_num_classes


@keras_dfkd_export("keras_dfkd.models.nested_classifier")
def nested_classifier(
    base, num_classes=10, dropout_rate=0.2, name="nested_classifier"
):
    """Wraps a feature-extractor model in a classification head.

    Builds `inputs -> base(inputs) -> GlobalAveragePooling2D -> Dropout ->
    Dense(num_classes)`, the shape of a Keras transfer-learning model (a
    `keras.applications` backbone called as one layer). The layers of
    `base`, its batch normalization included, live inside the nested
    model, not in the outer model's own `layers`.

    Args:
        base: a `keras.Model` with one image input, mapping it to a rank-4
            feature map `(batch, h, w, channels)`, channels_last, e.g.
            `keras_dfkd.models.residual_cnn(include_head=False)`.
        num_classes: int. Number of output logits. Defaults to `10`.
        dropout_rate: float. Dropout rate before the classifier. Defaults
            to `0.2`.
        name: str. The model name. Defaults to `"nested_classifier"`.

    Returns:
        A Functional `keras.Model` with the input shape of `base`, whose
        second layer is `base`, mapping images to logits of shape
        `(batch, num_classes)`.

    Raises:
        ValueError: if `base` is not a single-input `keras.Model` with a
            rank-4 output, or `num_classes` is not a positive int.

    Example:

    >>> base = keras_dfkd.models.residual_cnn(
    ...     include_head=False, name="feature_extractor"
    ... )
    >>> model = keras_dfkd.models.nested_classifier(base)
    >>> [layer.name for layer in model.layers[:2]]
    ['input', 'feature_extractor']
    >>> model.output_shape
    (None, 10)
    """
    if not isinstance(base, keras.Model) or len(base.inputs) != 1:
        raise ValueError(
            f"`{name}` expects `base` to be a single-input `keras.Model`. "
            f"Received: base={base!r}"
        )
    if len(base.output.shape) != 4:
        raise ValueError(
            f"`{name}` expects `base` to output a rank-4 feature map "
            "(batch, height, width, channels). Received output shape "
            f"{tuple(base.output.shape)}."
        )
    validate_num_classes(num_classes, name)

    inputs = keras.Input(shape=base.input.shape[1:], name="input")
    x = base(inputs)
    x = keras.layers.GlobalAveragePooling2D(
        data_format=DATA_FORMAT, name="avg_pool"
    )(x)
    x = keras.layers.Dropout(dropout_rate, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
