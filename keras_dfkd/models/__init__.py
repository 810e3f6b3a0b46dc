"""Reference classifier models (Keras Functional, channels_last, logits)."""

from keras_dfkd.models.lenet import lenet5
from keras_dfkd.models.lenet import lenet5_half
from keras_dfkd.models.resnet import resnet18
from keras_dfkd.models.resnet import resnet34
from keras_dfkd.models.vgg import vgg11_bn
from keras_dfkd.models.wide_resnet import wide_resnet
from keras_dfkd.models.wide_resnet import wrn_16_1
from keras_dfkd.models.wide_resnet import wrn_16_2
from keras_dfkd.models.wide_resnet import wrn_40_1
from keras_dfkd.models.wide_resnet import wrn_40_2

__all__ = [
    "lenet5",
    "lenet5_half",
    "resnet18",
    "resnet34",
    "vgg11_bn",
    "wide_resnet",
    "wrn_16_1",
    "wrn_16_2",
    "wrn_40_1",
    "wrn_40_2",
]
