"""Losses for data-free knowledge distillation."""

from keras_dfkd.losses.activation_loss import ActivationLoss
from keras_dfkd.losses.activation_loss import activation_loss
from keras_dfkd.losses.batch_norm_statistics_loss import BatchNormStatisticsLoss
from keras_dfkd.losses.batch_norm_statistics_loss import (
    batch_norm_statistics_loss,
)
from keras_dfkd.losses.information_entropy_loss import InformationEntropyLoss
from keras_dfkd.losses.information_entropy_loss import information_entropy_loss
from keras_dfkd.losses.jensen_shannon_divergence import JensenShannonDivergence
from keras_dfkd.losses.jensen_shannon_divergence import (
    jensen_shannon_divergence,
)
from keras_dfkd.losses.kl_divergence_with_temperature import (
    KLDivergenceWithTemperature,
)
from keras_dfkd.losses.kl_divergence_with_temperature import (
    kl_divergence_with_temperature,
)
from keras_dfkd.losses.l1_logits_loss import L1LogitsLoss
from keras_dfkd.losses.l1_logits_loss import l1_logits_loss
from keras_dfkd.losses.masked_kl_divergence import MaskedKLDivergence
from keras_dfkd.losses.masked_kl_divergence import masked_kl_divergence
from keras_dfkd.losses.one_hot_cross_entropy import OneHotCrossEntropy
from keras_dfkd.losses.one_hot_cross_entropy import one_hot_cross_entropy

__all__ = [
    "ActivationLoss",
    "BatchNormStatisticsLoss",
    "InformationEntropyLoss",
    "JensenShannonDivergence",
    "KLDivergenceWithTemperature",
    "L1LogitsLoss",
    "MaskedKLDivergence",
    "OneHotCrossEntropy",
    "activation_loss",
    "batch_norm_statistics_loss",
    "information_entropy_loss",
    "jensen_shannon_divergence",
    "kl_divergence_with_temperature",
    "l1_logits_loss",
    "masked_kl_divergence",
    "one_hot_cross_entropy",
]
