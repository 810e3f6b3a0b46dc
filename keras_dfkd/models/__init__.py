"""Reference classifier models (Keras Functional, channels_last, logits)."""

import functools

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.models.hub_resnet import hub_resnet_classifier
from keras_dfkd.models.lenet import lenet5
from keras_dfkd.models.lenet import lenet5_half
from keras_dfkd.models.mobilenet_small import mobilenet_small
from keras_dfkd.models.nested_classifier import nested_classifier
from keras_dfkd.models.plain_cnn import plain_cnn
from keras_dfkd.models.residual_cnn import residual_cnn
from keras_dfkd.models.resnet import resnet18
from keras_dfkd.models.resnet import resnet34
from keras_dfkd.models.vgg import vgg11_bn
from keras_dfkd.models.vgg_small import vgg_small
from keras_dfkd.models.wide_resnet import wide_resnet
from keras_dfkd.models.wide_resnet import wrn_16_1
from keras_dfkd.models.wide_resnet import wrn_16_2
from keras_dfkd.models.wide_resnet import wrn_40_1
from keras_dfkd.models.wide_resnet import wrn_40_2

#: The reference architectures `get` builds by name.
_ARCHITECTURES = {
    "lenet5": lenet5,
    "lenet5_half": lenet5_half,
    # The papers' LeNets (DAFL, DFAD, PRE-DFKD): no BatchNorm.
    "lenet5_no_bn": functools.partial(lenet5, batch_norm=False),
    "lenet5_half_no_bn": functools.partial(lenet5_half, batch_norm=False),
    "resnet18": resnet18,
    "resnet34": resnet34,
    "wrn_40_2": wrn_40_2,
    "wrn_16_2": wrn_16_2,
    "vgg11_bn": vgg11_bn,
}


@keras_dfkd_export("keras_dfkd.models.get")
def get(name, num_classes, input_shape):
    """Builds a reference architecture by name, e.g. `get("lenet5", 10,
    (32, 32, 1))`.

    Args:
        name: str, one of `"lenet5"`, `"lenet5_half"`, `"lenet5_no_bn"`,
            `"lenet5_half_no_bn"` (the papers' LeNets, without
            BatchNorm), `"resnet18"`,
            `"resnet34"`, `"wrn_40_2"`, `"wrn_16_2"`, `"vgg11_bn"`.
        num_classes: int.
        input_shape: tuple `(height, width, channels)`.

    Returns:
        A new, untrained Functional `keras.Model`.
    """
    try:
        builder = _ARCHITECTURES[name]
    except KeyError:
        raise ValueError(
            f"Unknown architecture {name!r}; available: "
            f"{sorted(_ARCHITECTURES)}."
        ) from None
    return builder(num_classes=num_classes, input_shape=input_shape)


__all__ = [
    "get",
    "hub_resnet_classifier",
    "lenet5",
    "lenet5_half",
    "mobilenet_small",
    "nested_classifier",
    "plain_cnn",
    "residual_cnn",
    "resnet18",
    "resnet34",
    "vgg11_bn",
    "vgg_small",
    "wide_resnet",
    "wrn_16_1",
    "wrn_16_2",
    "wrn_40_1",
    "wrn_40_2",
]
