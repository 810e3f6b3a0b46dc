"""Replay memories of synthetic images."""

from keras_dfkd.replay.image_pool import ImagePool

__all__ = ["ImagePool"]
