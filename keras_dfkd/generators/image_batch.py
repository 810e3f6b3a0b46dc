"""`ImageBatch`: a batch of images that are themselves the trained weights."""

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.input_range import InputRange
from keras_dfkd.utils.arguments import check_int

# Pixels in [0, 1] as (z + 2) / 4 when the teacher's domain is the
# per-batch standardised one, whose statistics nobody recorded.
_STANDARDIZED_SCALE_AND_OFFSET = (4.0, -2.0)


@keras_dfkd_export("keras_dfkd.generators.ImageBatch")
class ImageBatch(keras.layers.Layer):
    """A batch of images optimised directly: DeepInversion's "generator".

    Holds one trainable variable `z` of shape `(batch_size,) + image_shape`
    in the teacher's input units: the teacher sees `x = z` (for a known
    domain) and the layer returns the pixels in [0, 1] that map to it,

    ```
    z <- clip(z, z(pixel 0), z(pixel 1))      # projected before each use
    pixels = (z - offset) / scale             # x = scale * pixels + offset
    ```

    with `scale` and `offset` of the `input_range` (per-batch
    standardised domains use pixels `(z + 2) / 4`). `reinitialize` draws
    `z ~ N(0, 1)`, DeepInversion's start (Gaussian noise in the normalised
    input space); an optimizer then trains `z` as it would a generator's
    weights, and the projection keeps every image a valid one, as the
    reference code clips after each step.

    Args:
        image_shape: tuple `(height, width, channels)`.
        batch_size: int. Images in the batch.
        input_range: `None` (the per-batch standardised domain) or the
            teacher's `keras_dfkd.InputRange`. Defaults to `None`.
        **kwargs: standard layer arguments such as `name`.

    Returns:
        `pixels()` (or calling the layer, whose input is ignored): pixels
        in [0, 1] of shape `(batch_size,) + image_shape`.

    Example:

    ```python
    images = keras_dfkd.generators.ImageBatch((32, 32, 3), batch_size=64)
    images.build()
    images.reinitialize(keras.random.SeedGenerator(0))
    pixels = images.pixels()
    ```

    Reference:
        - [Yin et al., 2020. Dreaming to Distill: Data-free Knowledge
          Transfer via DeepInversion](https://arxiv.org/abs/1912.08795)
    """

    def __init__(self, image_shape, batch_size, input_range=None, **kwargs):
        super().__init__(**kwargs)
        check_int("batch_size", batch_size)
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(
                "`image_shape` must be (height, width, channels); received "
                f"{image_shape}."
            )
        self.batch_size = batch_size
        self.input_range = InputRange.get(input_range)
        channels = self.image_shape[-1]
        if self.input_range is None or self.input_range.is_standardized:
            self._scale, self._offset = _STANDARDIZED_SCALE_AND_OFFSET
        else:
            scale, offset = self.input_range.scale_and_offset(channels)
            self._scale = tuple(float(v) for v in scale)
            self._offset = tuple(float(v) for v in offset)

    def build(self, input_shape=None):
        self.values = self.add_weight(
            shape=(self.batch_size,) + self.image_shape,
            initializer="random_normal",
            trainable=True,
            name="values",
        )
        self.built = True

    def reinitialize(self, seed):
        """Draws `z ~ N(0, 1)` (before every synthesis batch).

        Args:
            seed: a `keras.random.SeedGenerator`.
        """
        self.values.assign(
            keras.random.normal(self.values.shape, seed=seed, dtype="float32")
        )

    def pixels(self):
        """Projects the values onto valid pixels and returns the pixels."""
        scale = ops.convert_to_tensor(self._scale, "float32")
        offset = ops.convert_to_tensor(self._offset, "float32")
        low = ops.minimum(offset, offset + scale)
        high = ops.maximum(offset, offset + scale)
        projected = ops.minimum(ops.maximum(self.values.value, low), high)
        self.values.assign(projected)
        return (self.values.value - offset) / scale

    def call(self, inputs=None):
        del inputs  # The images are the layer's own.
        return self.pixels()

    def compute_output_shape(self, input_shape=None):
        return (self.batch_size,) + self.image_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            image_shape=self.image_shape,
            batch_size=self.batch_size,
            input_range=(
                None
                if self.input_range is None
                else self.input_range.get_config()
            ),
        )
        return config
