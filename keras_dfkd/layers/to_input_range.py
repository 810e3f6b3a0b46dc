"""`ToInputRange`: generator pixels in [0, 1] to the teacher's domain."""

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.input_range import InputRange


@keras_dfkd_export("keras_dfkd.layers.ToInputRange")
class ToInputRange(keras.layers.Layer):
    """Maps pixels in [0, 1] into the teacher's input domain.

    The one mapping every generator ends with, so that synthetic images
    are what the teacher was trained on (see `keras_dfkd.InputRange`):

    ```python
    x_c = (low_c + (high_c - low_c) * u_c - mean_c) / std_c
    ```

    For `InputRange.standardized()` each batch is standardised per
    channel instead, `x = (u - mean_batch) / sqrt(var_batch + 1e-5)`.
    The layer has no weights.

    Args:
        input_range: anything `keras_dfkd.InputRange.get` reads, e.g.
            `(0, 255)`.
        **kwargs: standard layer arguments such as `name`.

    Call arguments:
        pixels: tensor `(N, H, W, C)` with values in [0, 1].

    Returns:
        A tensor of the same shape in the teacher's domain.

    Example:

    >>> layer = keras_dfkd.layers.ToInputRange((0, 255))
    >>> float(layer(keras.ops.ones((1, 2, 2, 1)))[0, 0, 0, 0])
    255.0
    """

    def __init__(self, input_range, **kwargs):
        super().__init__(**kwargs)
        self.input_range = InputRange.get(input_range)
        if self.input_range is None:
            raise ValueError("ToInputRange needs an input_range.")

    def call(self, pixels):
        return self.input_range.from_pixels(pixels)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["input_range"] = self.input_range.get_config()
        return config
