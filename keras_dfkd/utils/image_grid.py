"""Tiling a batch of images into one PNG."""

import os

import keras
import numpy as np


def image_grid(images, columns=None):
    """Tiles images `(N, H, W, C)` into one uint8 array `(rows*H, cols*W, C)`.

    Each image is min-max scaled on its own, so standardised (DAFL/DFAD),
    [-1, 1] and [0, 1] generator outputs all display well.
    """
    images = np.asarray(keras.ops.convert_to_numpy(images), "float32")
    if images.ndim != 4:
        raise ValueError(
            f"Expected images of shape (N, H, W, C); received {images.shape}."
        )
    n, h, w, c = images.shape
    low = images.min(axis=(1, 2, 3), keepdims=True)
    high = images.max(axis=(1, 2, 3), keepdims=True)
    images = (images - low) / np.maximum(high - low, 1e-8)
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    grid = np.ones((rows * (h + 2) + 2, columns * (w + 2) + 2, c), "float32")
    for i in range(n):
        r, k = divmod(i, columns)
        top, left = 2 + r * (h + 2), 2 + k * (w + 2)
        grid[top : top + h, left : left + w] = images[i]
    return (grid * 255).round().astype("uint8")


def save_image_grid(images, path, columns=None):
    """Writes `image_grid(images)` to `path` (PNG) and returns the path."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    keras.utils.save_img(path, image_grid(images, columns), scale=False)
    return path
