"""Numpy image resizing (no TensorFlow needed)."""

import numpy as np

_CHUNK = 4096  # Images resized at once, to bound the float32 buffers.


def _resize_matrix(in_size, out_size):
    """(out_size, in_size) matrix of 1-D linear interpolation weights.

    Half-pixel centres, like `keras.ops.image.resize(...,
    interpolation="bilinear")`; when shrinking, the triangle kernel is
    widened by the shrink factor (anti-aliasing, as `jax.image.resize` and
    `antialias=True` do) so that no input pixel is skipped.
    """
    scale = out_size / in_size
    kernel_width = max(1.0 / scale, 1.0)
    centres = (np.arange(out_size) + 0.5) / scale - 0.5
    distance = np.abs(np.arange(in_size)[None, :] - centres[:, None])
    weights = np.maximum(0.0, 1.0 - distance / kernel_width)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.astype(np.float32)


def to_size(image_size):
    """Normalises `image_size` (int or `(height, width)`) to a 2-tuple."""
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(
            "`image_size` must be a positive int or a (height, width) pair. "
            f"Received: image_size={image_size!r}"
        )
    return size


def resize_uint8(images, image_size):
    """Bilinearly resizes uint8 `(N, H, W, C)` images; returns uint8."""
    height, width = to_size(image_size)
    if images.shape[1:3] == (height, width):
        return images
    rows = _resize_matrix(images.shape[1], height)
    cols = _resize_matrix(images.shape[2], width).T
    out = np.empty(
        (images.shape[0], height, width, images.shape[3]), dtype=np.uint8
    )
    for start in range(0, images.shape[0], _CHUNK):
        chunk = images[start : start + _CHUNK].astype(np.float32)
        chunk = np.transpose(chunk, (0, 3, 1, 2))  # N, C, H, W
        chunk = np.matmul(np.matmul(rows, chunk), cols)
        chunk = np.clip(np.rint(chunk), 0, 255).astype(np.uint8)
        out[start : start + _CHUNK] = np.transpose(chunk, (0, 2, 3, 1))
    return out
