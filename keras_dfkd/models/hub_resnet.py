"""A keras-hub `ResNetImageClassifier` built from a small config."""

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models._common import validate_input_shape
from keras_dfkd.models._common import validate_num_classes


def _import_keras_hub():
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(
            "`hub_resnet_classifier` needs keras-hub: "
            "`pip install keras-dfkd[keras-hub]`."
        ) from error
    return keras_hub


def _per_channel(value, channels, argument):
    values = tuple(float(v) for v in value)
    if len(values) != channels:
        raise ValueError(
            f"`{argument}` needs one value per input channel ({channels}). "
            f"Received: {argument}={value!r}"
        )
    return values


def _image_converter(keras_hub, channels, pixel_mean, pixel_std):
    """A converter from raw `[0, 255]` pixels to the backbone's input."""
    if (pixel_mean is None) != (pixel_std is None):
        raise ValueError(
            "Pass both `pixel_mean` and `pixel_std`, or neither. Received: "
            f"pixel_mean={pixel_mean!r}, pixel_std={pixel_std!r}"
        )
    if pixel_mean is None:
        scale, offset = 1.0 / 255.0, None
    else:
        mean = _per_channel(pixel_mean, channels, "pixel_mean")
        std = _per_channel(pixel_std, channels, "pixel_std")
        # (x / 255 - mean) / std == x * scale + offset.
        scale = tuple(1.0 / (255.0 * s) for s in std)
        offset = tuple(-m / s for m, s in zip(mean, std))
    return keras_hub.layers.ResNetImageConverter(
        image_size=None, scale=scale, offset=offset
    )


@keras_dfkd_export("keras_dfkd.models.hub_resnet_classifier")
def hub_resnet_classifier(
    num_classes=10,
    input_shape=(28, 28, 1),
    input_conv_filters=64,
    stackwise_num_filters=(64, 128),
    stackwise_num_blocks=(1, 1),
    stackwise_num_strides=(1, 2),
    pixel_mean=None,
    pixel_std=None,
    name="hub_resnet_classifier",
):
    """Builds a small keras-hub ResNet classifier from config (no preset).

    A `keras_hub.models.ResNetBackbone` of basic blocks (ResNet v1: a
    stride-2 3x3 stem convolution + BN + ReLU and a stride-2 3x3
    max-pool, so a 28x28 input reaches the first stack at 7x7) inside a
    `keras_hub.models.ResNetImageClassifier` (global average pooling and a
    `Dense(num_classes)` head without activation, so the model outputs
    logits). The backbone is a nested Functional model; its batch
    normalization layers use `momentum=0.9, epsilon=1e-5` on the channels
    axis.

    The classifier's `preprocessor` holds a
    `keras_hub.layers.ResNetImageConverter` that maps raw `[0, 255]`
    pixels to the backbone's input: `x / 255` by default, or
    `(x / 255 - pixel_mean) / pixel_std` when both are given. keras-hub
    applies it in `fit()`, `evaluate()` and `predict()` only; calling the
    model directly (as `model(x)`) expects converted images. Set
    `model.preprocessor = None` to feed converted images to `fit()`.

    Needs keras-hub. keras-hub requires `stackwise_num_filters[0] == 64`,
    and the first stack's identity shortcut needs
    `input_conv_filters == 64` too.

    Args:
        num_classes: int. Number of output logits. Defaults to `10`.
        input_shape: tuple `(height, width, channels)`, channels_last.
            Defaults to `(28, 28, 1)`.
        input_conv_filters: int. Filters of the stem convolution. Defaults
            to `64`.
        stackwise_num_filters: tuple of int. Filters of each stack; the
            first must be 64. Defaults to `(64, 128)`.
        stackwise_num_blocks: tuple of int. Blocks in each stack. Defaults
            to `(1, 1)`.
        stackwise_num_strides: tuple of int. Stride of each stack.
            Defaults to `(1, 2)`.
        pixel_mean: `None` or tuple of float, one per channel. Pixel mean
            on the `[0, 1]` scale, for a standardising converter.
        pixel_std: `None` or tuple of float, one per channel. Pixel
            standard deviation on the `[0, 1]` scale.
        name: str. The model name. Defaults to
            `"hub_resnet_classifier"`.

    Returns:
        A `keras_hub.models.ResNetImageClassifier` mapping converted
        images of shape `(batch, *input_shape)` to logits of shape
        `(batch, num_classes)`.

    Raises:
        ImportError: if keras-hub is not installed.
        ValueError: if `input_shape` is not rank 3, `num_classes` is not a
            positive int, or only one of `pixel_mean`/`pixel_std` is given.

    Example:

    >>> model = keras_dfkd.models.hub_resnet_classifier(
    ...     pixel_mean=(0.2860,), pixel_std=(0.3530,)
    ... )
    >>> model.output_shape
    (None, 10)
    >>> converter = model.preprocessor.image_converter
    >>> x = converter(np.zeros((1, 28, 28, 1), "uint8"))  # -0.2860 / 0.3530
    """
    keras_hub = _import_keras_hub()
    input_shape = validate_input_shape(input_shape, name)
    validate_num_classes(num_classes, name)

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[input_conv_filters],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=list(stackwise_num_filters),
        stackwise_num_blocks=list(stackwise_num_blocks),
        stackwise_num_strides=list(stackwise_num_strides),
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=input_shape,
        name=name + "_backbone",
    )
    converter = _image_converter(
        keras_hub, input_shape[-1], pixel_mean, pixel_std
    )
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(
        image_converter=converter
    )
    return keras_hub.models.ResNetImageClassifier(
        backbone=backbone,
        num_classes=num_classes,
        preprocessor=preprocessor,
        activation=None,
        name=name,
    )
