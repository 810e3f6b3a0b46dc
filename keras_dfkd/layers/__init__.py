"""Layers for data-free knowledge distillation."""

from keras_dfkd.layers.best_batch import BestBatch
from keras_dfkd.layers.differentiable_augmentation import (
    DifferentiableAugmentation,
)
from keras_dfkd.layers.differentiable_resized_crop import (
    DifferentiableResizedCrop,
)
from keras_dfkd.layers.feature_bank import FeatureBank
from keras_dfkd.layers.spectral_norm import SpectralNorm
from keras_dfkd.layers.to_input_range import ToInputRange

__all__ = [
    "BestBatch",
    "DifferentiableAugmentation",
    "DifferentiableResizedCrop",
    "FeatureBank",
    "SpectralNorm",
    "ToInputRange",
]
