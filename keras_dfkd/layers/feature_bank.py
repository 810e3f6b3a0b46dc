"""`FeatureBank`: a bounded ring buffer of feature vectors, in variables."""

import keras
from keras import ops

from keras_dfkd import backend
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.utils.arguments import check_int

# A sort key above every uniform draw: rows not yet written.
_EMPTY_KEY = 2.0


@keras_dfkd_export("keras_dfkd.layers.FeatureBank")
class FeatureBank(keras.layers.Layer):
    """CMI's memory bank: the features of past batches, as negatives.

    A ring buffer of `capacity` rows of `dim` floats held in variables, so
    it is written and read inside the compiled step and saved with
    checkpoints:

    ```
    add(f):     rows [p, p + n) (mod capacity) <- f;  p <- p + n
    sample(k):  k distinct written rows at random, and a mask that marks
                the draws that exist while fewer than k rows are written
    ```

    `sample` draws without replacement from the rows written so far, as
    CMI's code does; its output has a fixed shape `(k, dim)`, and while
    the bank holds `m < k` rows only `m` of the draws are valid.

    Args:
        capacity: int. Rows kept (CMI: 40,960).
        dim: int. Features per row.
        seed: int or `None`. Seed of the draws. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    bank = keras_dfkd.layers.FeatureBank(capacity=4096, dim=512, seed=0)
    bank.build()
    bank.add(features)                    # (n, 512)
    negatives, valid = bank.sample(1024)  # (1024, 512), (1024,)
    ```
    """

    def __init__(self, capacity, dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_int("capacity", capacity)
        check_int("dim", dim)
        self.capacity = capacity
        self.dim = dim
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        self.features = self.add_weight(
            shape=(self.capacity, self.dim),
            initializer="zeros",
            trainable=False,
            name="features",
        )
        self.position = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="position",
        )
        self.filled = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="filled",
        )
        self.built = True

    def add(self, features):
        """Writes the rows of `features` `(n, dim)`, `n <= capacity`."""
        count = features.shape[0]
        if count is None or count > self.capacity:
            raise ValueError(
                f"FeatureBank.add takes at most {self.capacity} rows of "
                f"known count; received shape {features.shape}."
            )
        rows = ops.mod(
            self.position.value + ops.arange(count, dtype="int32"),
            self.capacity,
        )
        backend.scatter_rows(
            self.features,
            rows,
            ops.cast(ops.stop_gradient(features), "float32"),
        )
        self.position.assign(
            ops.mod(self.position.value + count, self.capacity)
        )
        self.filled.assign(
            ops.minimum(self.filled.value + count, self.capacity)
        )

    def sample(self, count):
        """`count` distinct written rows at random, and which of them exist.

        Returns:
            `(rows, valid)`: float32 `(count, dim)` and bool `(count,)`.
        """
        if count > self.capacity:
            raise ValueError(
                f"Cannot draw {count} distinct rows from a bank of "
                f"{self.capacity}."
            )
        keys = keras.random.uniform((self.capacity,), seed=self.seed_generator)
        written = ops.arange(self.capacity, dtype="int32") < self.filled.value
        keys = ops.where(written, keys, _EMPTY_KEY)
        # The `count` smallest keys: a uniformly random subset of the rows.
        negative_keys, indices = ops.top_k(-keys, count)
        valid = -negative_keys < _EMPTY_KEY
        return backend.gather_rows(self.features, indices), valid

    def get_config(self):
        config = super().get_config()
        config.update(capacity=self.capacity, dim=self.dim, seed=self.seed)
        return config
