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


def save_image_grid(images, path, columns=None, zoom=1):
    """Writes `image_grid(images)` to `path` (PNG) and returns the path.

    `zoom` enlarges every pixel to `zoom x zoom` so small images stay
    visible.
    """
    if not isinstance(zoom, int) or zoom < 1:
        raise ValueError(f"`zoom` must be a positive int; received {zoom!r}.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    grid = image_grid(images, columns)
    grid = np.repeat(np.repeat(grid, zoom, axis=0), zoom, axis=1)
    keras.utils.save_img(path, grid, scale=False)
    return path
