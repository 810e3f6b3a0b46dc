"""Tiling a batch of images into one PNG."""

import os

import keras
import numpy as np

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.utils.image_grid")
def image_grid(images, columns=None, pixels=False):
    """Tiles images `(N, H, W, C)` into one uint8 array `(rows*H, cols*W, C)`.

    By default each image is min-max scaled on its own, so standardised
    (DAFL/DFAD), [-1, 1] and [0, 1] generator outputs all display well;
    with `pixels=True` the images are pixels in [0, 1] and are shown as
    they are (a dark image stays dark).
    """
    images = np.asarray(keras.ops.convert_to_numpy(images), "float32")
    if images.ndim != 4:
        raise ValueError(
            f"Expected images of shape (N, H, W, C); received {images.shape}."
        )
    n, h, w, c = images.shape
    if pixels:
        images = np.clip(images, 0.0, 1.0)
    else:
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


#: Height in pixels of the caption strip under each row of a labelled grid.
CAPTION_HEIGHT = 12


@keras_dfkd_export("keras_dfkd.utils.labelled_image_grid")
def labelled_image_grid(images, labels, columns=None, zoom=1, pixels=False):
    """Like `image_grid`, with a caption under every image.

    Args:
        images: `(N, H, W, C)` array.
        labels: `N` strings, e.g. the teacher's class and confidence.
        columns: int or `None` (a square-ish grid).
        zoom: int. Pixel enlargement, so captions fit small images.
        pixels: bool. Whether `images` are pixels in [0, 1] to show as
            they are (else each is min-max scaled).

    Returns:
        A uint8 RGB array.
    """
    from PIL import Image
    from PIL import ImageDraw

    images = np.asarray(keras.ops.convert_to_numpy(images), "float32")
    if len(labels) != len(images):
        raise ValueError(f"Got {len(labels)} labels for {len(images)} images.")
    n = len(images)
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    # Each cell alone: image_grid of one image is the image with a border.
    cells = [image_grid(images[i : i + 1], pixels=pixels) for i in range(n)]
    cells = [np.repeat(np.repeat(c, zoom, 0), zoom, 1) for c in cells]
    height, width = cells[0].shape[:2]
    width = max(width, 6 * max(len(t) for t in labels) + 4)
    canvas = Image.new(
        "RGB", (columns * width, rows * (height + CAPTION_HEIGHT)), "white"
    )
    draw = ImageDraw.Draw(canvas)
    for i, (cell, text) in enumerate(zip(cells, labels)):
        r, k = divmod(i, columns)
        top, left = r * (height + CAPTION_HEIGHT), k * width
        if cell.shape[-1] == 1:
            cell = np.repeat(cell, 3, axis=-1)
        canvas.paste(Image.fromarray(cell), (left, top))
        draw.text((left + 2, top + height), text, fill="black")
    return np.asarray(canvas)


@keras_dfkd_export("keras_dfkd.utils.save_image_grid")
def save_image_grid(images, path, columns=None, zoom=1, labels=None):
    """Writes an image grid to `path` (PNG) and returns the path.

    `zoom` enlarges every pixel to `zoom x zoom` so small images stay
    visible. With `labels` (one string per image) every image gets a
    caption (`labelled_image_grid`).
    """
    if not isinstance(zoom, int) or zoom < 1:
        raise ValueError(f"`zoom` must be a positive int; received {zoom!r}.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if labels is not None:
        grid = labelled_image_grid(images, labels, columns, zoom)
    else:
        grid = image_grid(images, columns)
        grid = np.repeat(np.repeat(grid, zoom, axis=0), zoom, axis=1)
    keras.utils.save_img(path, grid, scale=False)
    return path
