"""Per-channel normalisation with each dataset's standard constants."""

import numpy as np

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.datasets.dataset_info import get_info


def _constants(x, name):
    info = get_info(name)
    channels = len(info.mean)
    if x.ndim < 1 or x.shape[-1] != channels:
        raise ValueError(
            f"{info.name!r} images have {channels} channel(s) last; received "
            f"an array of shape {x.shape}."
        )
    mean = np.asarray(info.mean, dtype=np.float32)
    std = np.asarray(info.std, dtype=np.float32)
    return mean, std


@keras_dfkd_export("keras_dfkd.datasets.normalize")
def normalize(x, name):
    """Normalises pixel values with a dataset's per-channel mean and std.

    Computes `(x / 255 - mean) / std` in float32, the usual input
    preprocessing of teachers trained on these datasets.

    Args:
        x: array-like of pixel values in `[0, 255]` (e.g. uint8 from
            `keras_dfkd.datasets.load`), channels last, any leading shape.
        name: str or `DatasetInfo`. The dataset whose constants to use.

    Returns:
        A float32 numpy array of the shape of `x`.

    Raises:
        ValueError: if the last axis of `x` is not the dataset's channels.

    Example:

    >>> x, _ = keras_dfkd.datasets.load("mnist", split="test")
    >>> x = keras_dfkd.datasets.normalize(x, "mnist")
    """
    x = np.asarray(x)
    mean, std = _constants(x, name)
    x = x.astype(np.float32) * np.float32(1.0 / 255.0)
    return ((x - mean) / std).astype(np.float32, copy=False)


@keras_dfkd_export("keras_dfkd.datasets.denormalize")
def denormalize(x, name):
    """Inverts `normalize`: returns float32 pixel values in `[0, 255]` scale.

    Values are not clipped or rounded; use
    `np.clip(np.rint(x), 0, 255).astype("uint8")` for displayable images.

    Args:
        x: array-like of normalised values, channels last.
        name: str or `DatasetInfo`. The dataset whose constants to use.

    Returns:
        A float32 numpy array of the shape of `x`.
    """
    x = np.asarray(x, dtype=np.float32)
    mean, std = _constants(x, name)
    return ((x * std + mean) * np.float32(255.0)).astype(np.float32, copy=False)
