"""Differentiable random crop and horizontal flip."""

import numbers

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.layers.DifferentiableAugmentation")
class DifferentiableAugmentation(keras.layers.Layer):
    """Per-sample random crop and horizontal flip, differentiable in images.

    Applies, independently to every image of the batch, a random crop of the
    original size from the zero-padded image and a random horizontal flip.
    The output is a selection of input pixels (and zeros), implemented with
    gathers along the height and width axes, so gradients flow back to the
    input images: data-free methods use it on generator outputs and
    back-propagate the teacher/student losses through it into the generator.

    Formula:

    ```python
    # For each sample n, with P = padding:
    dy, dx = randint(-P, P + 1), randint(-P, P + 1)
    # out[n][i, j] = images[n][i + dy, j + dx], where an index outside the
    # image reads zero (fill_mode="constant") or wraps around ("wrap").
    if flip and uniform() < 0.5:
        out[n] = out[n][:, ::-1]
    ```

    The randomness comes from a `keras.random.SeedGenerator` attribute, which
    is part of the layer's (non-trainable) state, so the layer gives fresh
    samples at every step inside `tf.function` and `jax.jit` (through the
    usual stateless-call machinery of Keras trainers). Static shapes are
    preserved. Inputs must be channels-last images of shape `(N, H, W, C)`.

    Args:
        padding: non-negative int, the zero padding added on each side
            before cropping; crop offsets are drawn uniformly from
            `[0, 2 * padding]` on each axis. `0` disables cropping.
            Defaults to `4`.
        fill_mode: `"constant"` (zero padding, the crop of CMI/Fast) or
            `"wrap"` (pixels shifted out re-enter on the other side: the
            random jitter of DeepInversion, `torch.roll` by up to 30 px at
            224 px). Defaults to `"constant"`.
        flip: bool, whether to flip each image horizontally with
            probability `0.5`. Defaults to `True`.
        seed: optional int, the seed of the layer's `SeedGenerator`.
            Defaults to `None`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        images: tensor of shape `(N, H, W, C)`.
        training: bool. When `False` the layer is the identity. Defaults to
            `True` (when no training flag is set by the calling context).

    Returns:
        A tensor with the shape and dtype of `images`.

    Example:

    ```python
    augment = keras_dfkd.layers.DifferentiableAugmentation(padding=4, seed=0)
    images = generator(noise)
    logits = teacher(augment(images))  # gradients reach the generator
    ```

    Reference:
        - [Zhao et al., 2020. Differentiable Augmentation for Data-Efficient
          GAN Training](https://arxiv.org/abs/2006.10738)
        - [Fang et al., 2021. Contrastive Model Inversion for Data-Free
          Knowledge Distillation](https://arxiv.org/abs/2105.08584)
    """

    def __init__(
        self, padding=4, flip=True, seed=None, fill_mode="constant", **kwargs
    ):
        if (
            isinstance(padding, bool)
            or not isinstance(padding, numbers.Integral)
            or padding < 0
        ):
            raise ValueError(
                "`padding` must be a non-negative int. "
                f"Received: padding={padding}"
            )
        if fill_mode not in ("constant", "wrap"):
            raise ValueError(
                "`fill_mode` must be 'constant' or 'wrap'. "
                f"Received: fill_mode={fill_mode!r}"
            )
        if flip not in (True, False):
            raise ValueError(f"`flip` must be a bool. Received: flip={flip}")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
        ):
            raise ValueError(
                f"`seed` must be an int or None. Received: seed={seed}"
            )
        super().__init__(**kwargs)
        self.padding = int(padding)
        self.flip = bool(flip)
        self.fill_mode = fill_mode
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "`DifferentiableAugmentation` expects images of shape "
                f"(N, H, W, C). Received input shape {input_shape}."
            )
        if self.padding > 0 and (
            input_shape[1] is None or input_shape[2] is None
        ):
            raise ValueError(
                "The height and width of the images must be known. "
                f"Received input shape {input_shape}."
            )

    def _gather(self, images, indices, size, axis):
        """Takes `images[n, indices[n, i]]` along `axis`; zero if invalid.

        `indices` has shape `(N, size)`; entries outside `[0, size)` select
        zero padding, or wrap around with `fill_mode="wrap"`.
        """
        if self.fill_mode == "wrap":
            indices = ops.mod(indices, size)
        valid = ops.logical_and(indices >= 0, indices < size)
        clipped = ops.clip(indices, 0, size - 1)
        if axis == 1:
            clipped = clipped[:, :, None, None]
            valid = valid[:, :, None, None]
        else:
            clipped = clipped[:, None, :, None]
            valid = valid[:, None, :, None]
        gathered = ops.take_along_axis(images, clipped, axis=axis)
        return gathered * ops.cast(valid, images.dtype)

    def call(self, images, training=True):
        if not training or (self.padding == 0 and not self.flip):
            return images
        images = ops.convert_to_tensor(images)
        height, width = images.shape[1], images.shape[2]
        batch_size = ops.shape(images)[0]

        if self.padding > 0:
            offsets = keras.random.randint(
                (batch_size, 2),
                minval=0,
                maxval=2 * self.padding + 1,
                dtype="int32",
                seed=self.seed_generator,
            )
            offsets = offsets - self.padding
            rows = offsets[:, :1] + ops.arange(height, dtype="int32")[None]
            images = self._gather(images, rows, height, axis=1)
            col_offset = offsets[:, 1:]
        else:
            col_offset = None

        cols = ops.arange(width, dtype="int32")[None]
        if self.flip:
            flipped = keras.random.uniform(
                (batch_size, 1), seed=self.seed_generator
            )
            flipped = flipped < 0.5
            cols = ops.where(flipped, width - 1 - cols, cols)
        if col_offset is not None:
            cols = cols + col_offset
        return self._gather(images, cols, width, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "padding": self.padding,
                "flip": self.flip,
                "seed": self.seed,
                "fill_mode": self.fill_mode,
            }
        )
        return config
