"""Image generators."""

from keras_dfkd.generators.generator import Generator

__all__ = ["Generator"]
