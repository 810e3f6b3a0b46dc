"""keras_dfkd: data-free knowledge distillation for Keras 3."""

from keras_dfkd import callbacks
from keras_dfkd import datasets
from keras_dfkd import generators
from keras_dfkd import layers
from keras_dfkd import losses
from keras_dfkd import methods
from keras_dfkd import models
from keras_dfkd import optimizers
from keras_dfkd import presets
from keras_dfkd import replay
from keras_dfkd import utils
from keras_dfkd.distiller import DataFreeDistiller
from keras_dfkd.input_range import InputRange
from keras_dfkd.input_range_detection import detect_input_range

__version__ = "0.1.0"

__all__ = [
    "DataFreeDistiller",
    "InputRange",
    "callbacks",
    "datasets",
    "detect_input_range",
    "generators",
    "layers",
    "losses",
    "methods",
    "models",
    "optimizers",
    "presets",
    "replay",
    "utils",
]
