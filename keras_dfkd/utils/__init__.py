"""Utilities."""

from keras_dfkd.utils.image_grid import image_grid
from keras_dfkd.utils.image_grid import labelled_image_grid
from keras_dfkd.utils.image_grid import save_image_grid
from keras_dfkd.utils.text_encoding import class_prompts
from keras_dfkd.utils.text_encoding import encode_texts

__all__ = [
    "class_prompts",
    "encode_texts",
    "image_grid",
    "labelled_image_grid",
    "save_image_grid",
]
