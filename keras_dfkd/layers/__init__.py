"""Layers for data-free knowledge distillation."""

from keras_dfkd.layers.differentiable_augmentation import (
    DifferentiableAugmentation,
)

__all__ = ["DifferentiableAugmentation"]
