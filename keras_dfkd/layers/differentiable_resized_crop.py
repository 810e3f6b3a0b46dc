"""`DifferentiableResizedCrop`: a random resized crop, differentiable."""

import math

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export


def _interval(name, value, low_bound):
    """Checks a `(low, high)` pair of numbers with `low_bound < low <= high`."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a pair (low, high); received {value!r}."
        ) from None
    if not low_bound < low <= high:
        raise ValueError(
            f"`{name}` must satisfy {low_bound} < low <= high; received "
            f"{value!r}."
        )
    return low, high


@keras_dfkd_export("keras_dfkd.layers.DifferentiableResizedCrop")
class DifferentiableResizedCrop(keras.layers.Layer):
    """A random resized crop (and flip) through which gradients pass.

    CMI's "local view" of a synthetic image: for each image of the batch,

    ```
    s ~ U(scale);  log r ~ U(log ratio)          # share of the area, aspect
    w = min(W, sqrt(s H W r));  h = min(H, sqrt(s H W / r))
    (x0, y0) ~ U over the positions that keep the box inside the image
    out = bilinear resize of the box back to (H, W)  [then a mirror, p=1/2]
    ```

    The resize is two separable bilinear interpolations written with
    gathers, so the output is differentiable in the images (the box is
    random, not learnt). Like torchvision's `RandomResizedCrop` but for
    its ten retries: a box larger than the image is clipped to it.

    Args:
        scale: pair of floats in (0, 1]. Range of the box's share of the
            image's area. Defaults to `(0.25, 1.0)` (CMI's).
        ratio: pair of positive floats. Range of the box's aspect ratio
            `w / h`, drawn log-uniformly. Defaults to `(3/4, 4/3)`.
        flip: bool. Mirror each output with probability 1/2. Defaults to
            `True`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Call arguments:
        images: `(N, H, W, C)` with known `H` and `W`.
        training: bool. Outside training the images pass unchanged.

    Example:

    ```python
    local_view = keras_dfkd.layers.DifferentiableResizedCrop(seed=0)
    logits = teacher(local_view(generator(noise)))  # gradients reach G
    ```

    Reference:
        - [Fang et al., 2021. Contrastive Model Inversion for Data-Free
          Knowledge Distillation](https://arxiv.org/abs/2105.08584)
    """

    def __init__(
        self,
        scale=(0.25, 1.0),
        ratio=(3 / 4, 4 / 3),
        flip=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.scale = _interval("scale", scale, 0.0)
        if self.scale[1] > 1.0:
            raise ValueError(f"`scale` must lie in (0, 1]; received {scale!r}.")
        self.ratio = _interval("ratio", ratio, 0.0)
        if flip not in (True, False):
            raise ValueError(f"`flip` must be a bool; received {flip!r}.")
        self.flip = bool(flip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 4 or None in tuple(input_shape[1:3]):
            raise ValueError(
                "`DifferentiableResizedCrop` expects images (N, H, W, C) of "
                f"known height and width; received {input_shape}."
            )

    def _uniform(self, batch_size, low, high):
        return keras.random.uniform(
            (batch_size, 1), low, high, seed=self.seed_generator
        )

    @staticmethod
    def _resample(images, coordinates, size, axis):
        """Linear interpolation of `images` at `coordinates` along `axis`."""
        coordinates = ops.clip(coordinates, 0.0, size - 1.0)
        low = ops.floor(coordinates)
        fraction = coordinates - low
        low = ops.cast(low, "int32")
        high = ops.minimum(low + 1, size - 1)
        if axis == 1:
            expand = (slice(None), slice(None), None, None)
        else:
            expand = (slice(None), None, slice(None), None)
        below = ops.take_along_axis(images, low[expand], axis=axis)
        above = ops.take_along_axis(images, high[expand], axis=axis)
        fraction = ops.cast(fraction[expand], images.dtype)
        return below + (above - below) * fraction

    def call(self, images, training=True):
        if not training:
            return images
        images = ops.convert_to_tensor(images)
        height, width = images.shape[1], images.shape[2]
        batch_size = ops.shape(images)[0]
        area = self._uniform(batch_size, *self.scale) * (height * width)
        log_ratio = self._uniform(
            batch_size, math.log(self.ratio[0]), math.log(self.ratio[1])
        )
        ratio = ops.exp(log_ratio)
        box_width = ops.minimum(ops.sqrt(area * ratio), float(width))
        box_height = ops.minimum(ops.sqrt(area / ratio), float(height))
        left = self._uniform(batch_size, 0.0, 1.0) * (width - box_width)
        top = self._uniform(batch_size, 0.0, 1.0) * (height - box_height)
        # Pixel centres of the output, mapped into the box.
        rows = ops.arange(height, dtype="float32")[None] + 0.5
        cols = ops.arange(width, dtype="float32")[None] + 0.5
        rows = top + rows * (box_height / height) - 0.5
        cols = left + cols * (box_width / width) - 0.5
        if self.flip:
            flipped = self._uniform(batch_size, 0.0, 1.0) < 0.5
            cols = ops.where(flipped, ops.flip(cols, axis=1), cols)
        images = self._resample(images, rows, height, axis=1)
        return self._resample(images, cols, width, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            scale=self.scale, ratio=self.ratio, flip=self.flip, seed=self.seed
        )
        return config
