"""NAYER's K-to-1 noisy layer."""

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.generators.NoisyLayer")
class NoisyLayer(keras.layers.Layer):
    """Grouped dense layer whose weights are redrawn for every batch.

    The batch is split into `num_groups` consecutive groups of equal size,
    and each group has its own dense map (no activation):

    ```
    y[g * K + k] = x[g * K + k] @ W_g + b_g,    K = batch // num_groups
    ```

    NAYER feeds it class-balanced, ordered labels `[0..K-1, 0..K-1, ...]`,
    so each group holds one sample of every class: one noisy layer makes
    `K` samples (the paper's "K-to-1" noisy layer). The randomness of the
    generator lives here instead of in an input noise vector:
    `reinitialize()` draws `W_g ~ N(0, stddev^2)` and sets `b_g = 0`
    before every synthesis batch; in between, the weights are trained with
    the rest of the generator.

    Args:
        units: int. Output size of each dense map.
        num_groups: int. Number of dense maps. NAYER uses
            `synthesis_batch_size // num_classes`.
        stddev: float. Standard deviation of the redrawn weights (NAYER:
            1.0, not the usual 0.02). Defaults to `1.0`.
        seed: int or `None`. Seed of the initial weights. Defaults to
            `None`.
        **kwargs: standard layer arguments such as `name`.

    Call arguments:
        inputs: float tensor `(batch, features)` with `batch` a multiple of
            `num_groups`.

    Returns:
        Tensor `(batch, units)`.

    Example:

    ```python
    layer = keras_dfkd.generators.NoisyLayer(units=256, num_groups=4)
    y = layer(keras.random.normal((40, 384)))    # 4 groups of 10
    layer.reinitialize(keras.random.SeedGenerator(0))
    ```

    Reference:
        - [Tran et al., NAYER, CVPR 2024](https://arxiv.org/abs/2310.00258)
    """

    def __init__(self, units, num_groups, stddev=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("units", units), ("num_groups", num_groups)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive int; received {value!r}."
                )
        self.units = units
        self.num_groups = num_groups
        self.stddev = stddev
        self.seed = seed

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.num_groups, features, self.units),
            initializer=keras.initializers.RandomNormal(
                stddev=self.stddev, seed=self.seed
            ),
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.num_groups, self.units),
            initializer="zeros",
            name="bias",
        )

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        if isinstance(batch, int) and batch % self.num_groups:
            raise ValueError(
                f"NoisyLayer with num_groups={self.num_groups} got a batch "
                f"of {batch}, not a multiple of it."
            )
        grouped = ops.reshape(
            inputs, (self.num_groups, -1, ops.shape(inputs)[-1])
        )
        outputs = ops.einsum("gkd,gdu->gku", grouped, self.kernel)
        outputs = outputs + self.bias[:, None, :]
        return ops.reshape(outputs, (-1, self.units))

    def reinitialize(self, seed):
        """Redraws `W ~ N(0, stddev^2)` and zeroes `b` (inside a step too).

        Args:
            seed: a `keras.random.SeedGenerator` (or int) for the draw.
        """
        self.kernel.assign(
            keras.random.normal(
                self.kernel.shape,
                stddev=self.stddev,
                dtype=self.kernel.dtype,
                seed=seed,
            )
        )
        self.bias.assign(ops.zeros(self.bias.shape, self.bias.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_groups": self.num_groups,
                "stddev": self.stddev,
                "seed": self.seed,
            }
        )
        return config
