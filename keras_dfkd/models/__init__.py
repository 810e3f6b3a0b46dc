"""Reference classifier models (Keras Functional, channels_last, logits)."""

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

__all__ = [
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
