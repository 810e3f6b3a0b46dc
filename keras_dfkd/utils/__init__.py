"""Utilities."""

from keras_dfkd.utils.image_grid import image_grid
from keras_dfkd.utils.image_grid import save_image_grid

__all__ = ["image_grid", "save_image_grid"]
