"""Image generators and their input layers."""

from keras_dfkd.generators.generator import Generator
from keras_dfkd.generators.generator_ensemble import GeneratorEnsemble
from keras_dfkd.generators.image_batch import ImageBatch
from keras_dfkd.generators.label_embedding import LabelTextEmbedding
from keras_dfkd.generators.nayer_generator import NAYERGenerator
from keras_dfkd.generators.noisy_layer import NoisyLayer

__all__ = [
    "Generator",
    "GeneratorEnsemble",
    "ImageBatch",
    "LabelTextEmbedding",
    "NAYERGenerator",
    "NoisyLayer",
]
