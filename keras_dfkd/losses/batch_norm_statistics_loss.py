"""Batch-normalization statistics loss (DeepInversion / NAYER)."""

import numbers

import keras
from keras import ops

from keras_dfkd import backend
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses._utils import safe_l2_norm


def _moments(features):
    """Batch mean and biased variance over all axes but the last.

    Inside a multi-replica TensorFlow strategy each replica holds an equal
    slice of the batch, so averaging the slices' means (then their mean
    squared deviations from the global mean) over the replicas gives the
    moments of the global batch, as on one device. Elsewhere
    `cross_replica_mean` is the identity and this is the plain two-pass
    computation.
    """
    features = ops.cast(features, "float32")
    axes = tuple(range(len(features.shape) - 1))
    mean = backend.cross_replica_mean(ops.mean(features, axis=axes))
    variance = backend.cross_replica_mean(
        ops.mean(ops.square(features - mean), axis=axes)
    )
    return mean, variance


def _statistics_distance(mean, variance, moving_mean, moving_variance):
    moving_mean = ops.cast(moving_mean, "float32")
    moving_variance = ops.cast(moving_variance, "float32")
    return safe_l2_norm(moving_variance - variance) + safe_l2_norm(
        moving_mean - mean
    )


def _check_lengths(features, moving_means, moving_variances):
    if not (len(features) == len(moving_means) == len(moving_variances)):
        raise ValueError(
            "`features`, `moving_means` and `moving_variances` must be lists "
            "of the same length (one entry per batch-normalization layer). "
            f"Received lengths {len(features)}, {len(moving_means)} and "
            f"{len(moving_variances)}."
        )


@keras_dfkd_export("keras_dfkd.losses.batch_norm_statistics_loss")
def batch_norm_statistics_loss(features, moving_means, moving_variances):
    """Computes the DeepInversion batch-normalization statistics loss.

    For every batch-normalization layer `i` with input `x_i` (shape
    `(N, ..., C_i)`, channels last) the batch mean `mu_i` and the biased batch
    variance `var_i` are taken over all axes but the last, and compared with
    the layer's running statistics:

    ```python
    r_i = norm(moving_variance_i - var_i) + norm(moving_mean_i - mu_i)
    loss = sum_i r_i
    ```

    where `norm` is the plain (not squared, not normalized) L2 norm. All
    computations run in `float32`, whatever the dtype of the features.

    This is the functional form of `BatchNormStatisticsLoss` with
    `momentum=0.0`.

    Args:
        features: list of tensors, the inputs of the batch-normalization
            layers, each of shape `(N, H, W, C)` or `(N, C)`.
        moving_means: list of `(C,)` tensors (or variables), the running
            means of the same layers.
        moving_variances: list of `(C,)` tensors (or variables), the running
            variances of the same layers.

    Returns:
        A scalar `float32` tensor.

    Example:

    ```python
    x = keras.random.normal((8, 4, 4, 3))
    loss = keras_dfkd.losses.batch_norm_statistics_loss(
        [x], [keras.ops.zeros((3,))], [keras.ops.ones((3,))]
    )
    ```

    Reference:
        - [Yin et al., 2020. Dreaming to Distill: Data-free Knowledge Transfer
          via DeepInversion](https://arxiv.org/abs/1912.08795)
    """
    features = list(features)
    moving_means = list(moving_means)
    moving_variances = list(moving_variances)
    _check_lengths(features, moving_means, moving_variances)
    total = ops.convert_to_tensor(0.0, dtype="float32")
    for x, moving_mean, moving_variance in zip(
        features, moving_means, moving_variances
    ):
        mean, variance = _moments(x)
        total = total + _statistics_distance(
            mean, variance, moving_mean, moving_variance
        )
    return total


@keras_dfkd_export("keras_dfkd.losses.BatchNormStatisticsLoss")
class BatchNormStatisticsLoss(keras.layers.Layer):
    """Batch-normalization statistics loss of DeepInversion and NAYER.

    Matches the per-channel statistics of the inputs of a teacher's
    batch-normalization (BN) layers, computed on a batch of synthetic images,
    with the running statistics that the BN layers stored during training.

    Formula:

    ```python
    # For each BN layer i with input x_i (channels last):
    mu_i = mean(x_i, axis=all_but_last)
    var_i = mean(square(x_i - mu_i), axis=all_but_last)  # biased
    # With momentum m > 0 and after the first `update_ema()`:
    mu_i = (1 - m) * mu_i + m * ema_mean_i
    var_i = (1 - m) * var_i + m * ema_var_i
    r_i = norm(moving_variance_i - var_i) + norm(moving_mean_i - mu_i)
    loss = sum_i r_i
    ```

    `norm` is the plain L2 norm (not squared, not divided by the channel
    count), as in the reference implementations. The result is always a
    `float32` scalar: the features are cast to `float32` first, and the
    layer's dtype policy defaults to `"float32"` so that mixed precision does
    not down-cast its inputs.

    On several devices the moments are those of the global batch: under a
    JAX `keras.distribution` the features are global arrays, and inside a
    multi-replica `tf.distribute` strategy the per-replica moments (of
    equal slices of the batch) are averaged across replicas, differentiably.

    This is a layer, not a `keras.losses.Loss`, because with `momentum > 0`
    it holds state. NAYER blends the batch statistics with an exponential
    moving average (EMA) of the statistics of earlier generator batches.
    Each call stores the current batch moments in `last_mean_i` /
    `last_var_i`; `update_ema()` (called by the training loop once per
    generator step, after the optimizer update) folds them into
    `ema_mean_i` / `ema_var_i`:

    ```python
    ema = m * ema + (1 - m) * last  if initialized else  last
    initialized = 1
    ```

    All state lives in non-trainable variables created in `build()`, and the
    update uses tensor arithmetic on the `initialized` flag (no Python
    branching on tensor values), so the layer works inside `tf.function` and,
    through `stateless_call`, inside `jax.jit`. With `momentum=0.0` the layer
    is stateless and equivalent to `batch_norm_statistics_loss`.

    Args:
        momentum: float in `[0, 1)`. Weight of the EMA statistics in the
            compared statistics. `0.0` disables the EMA (DeepInversion).
            NAYER uses `0.9`. Defaults to `0.0`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.
            `dtype` defaults to `"float32"`.

    Call arguments:
        features: list of tensors, the inputs of the teacher's BN layers,
            each of shape `(N, H, W, C)` or `(N, C)` (channels last).
        moving_means: list of `(C,)` tensors or variables, the running means
            of the same BN layers.
        moving_variances: list of `(C,)` tensors or variables, the running
            variances of the same BN layers.

    Returns:
        A scalar `float32` tensor, the sum over layers.

    Example:

    ```python
    bn_layers = [l for l in teacher.layers
                 if isinstance(l, keras.layers.BatchNormalization)]
    loss_fn = keras_dfkd.losses.BatchNormStatisticsLoss(momentum=0.9)
    # `features` are the inputs of `bn_layers`, e.g. from a feature model.
    loss = loss_fn(
        features,
        [l.moving_mean for l in bn_layers],
        [l.moving_variance for l in bn_layers],
    )
    # ... after the generator update:
    loss_fn.update_ema()
    ```

    Reference:
        - [Yin et al., 2020. Dreaming to Distill: Data-free Knowledge Transfer
          via DeepInversion](https://arxiv.org/abs/1912.08795)
        - [Tran et al., 2024. NAYER: Noisy Layer Data Generation for Efficient
          and Effective Data-free Knowledge
          Distillation](https://arxiv.org/abs/2310.00258)
    """

    def __init__(self, momentum=0.0, **kwargs):
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, numbers.Real)
            or not 0.0 <= float(momentum) < 1.0
        ):
            raise ValueError(
                "`momentum` must be a float in [0, 1). "
                f"Received: momentum={momentum}"
            )
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        # Moving statistics are commonly passed as `keras.Variable`s.
        self._allow_non_tensor_positional_args = True
        self.num_layers = None
        self.ema_means = []
        self.ema_variances = []
        self.last_means = []
        self.last_variances = []
        self.initialized = None

    def build(self, features_shape):
        shapes = list(features_shape)
        self.num_layers = len(shapes)
        if self.momentum > 0.0:
            for i, shape in enumerate(shapes):
                channels = shape[-1]
                if channels is None:
                    raise ValueError(
                        "The last (channel) dimension of every feature must "
                        f"be known. Received shape {shape} for feature {i}."
                    )
                for name, initializer, store in (
                    ("ema_mean", "zeros", self.ema_means),
                    ("ema_var", "ones", self.ema_variances),
                    ("last_mean", "zeros", self.last_means),
                    ("last_var", "ones", self.last_variances),
                ):
                    store.append(
                        self.add_weight(
                            shape=(channels,),
                            initializer=initializer,
                            trainable=False,
                            dtype="float32",
                            name=f"{name}_{i}",
                        )
                    )
            self.initialized = self.add_weight(
                shape=(),
                initializer="zeros",
                trainable=False,
                dtype="float32",
                name="initialized",
            )

    def call(self, features, moving_means, moving_variances):
        features = list(features)
        moving_means = list(moving_means)
        moving_variances = list(moving_variances)
        _check_lengths(features, moving_means, moving_variances)
        if self.num_layers is not None and len(features) != self.num_layers:
            raise ValueError(
                f"This layer was built for {self.num_layers} batch-"
                f"normalization layers but received {len(features)} features."
            )
        if self.momentum == 0.0:
            return batch_norm_statistics_loss(
                features, moving_means, moving_variances
            )

        m = self.momentum
        # 1.0 once `update_ema()` ran, else 0.0: blends without branching.
        weight = m * ops.cast(self.initialized, "float32")
        total = ops.convert_to_tensor(0.0, dtype="float32")
        for i, (x, moving_mean, moving_variance) in enumerate(
            zip(features, moving_means, moving_variances)
        ):
            mean, variance = _moments(x)
            self.last_means[i].assign(ops.stop_gradient(mean))
            self.last_variances[i].assign(ops.stop_gradient(variance))
            mean = (1.0 - weight) * mean + weight * self.ema_means[i]
            variance = (1.0 - weight) * variance + weight * (
                self.ema_variances[i]
            )
            total = total + _statistics_distance(
                mean, variance, moving_mean, moving_variance
            )
        return total

    def update_ema(self):
        """Folds the last batch moments into the EMA statistics.

        Sets `ema <- momentum * ema + (1 - momentum) * last` when the EMA is
        initialized, `ema <- last` otherwise, then marks it initialized.
        Call it after at least one call of the layer. A no-op when
        `momentum == 0`.
        """
        if self.momentum == 0.0 or self.initialized is None:
            return
        m = self.momentum
        flag = ops.cast(self.initialized, "float32")
        for ema, last in zip(
            self.ema_means + self.ema_variances,
            self.last_means + self.last_variances,
        ):
            blended = m * ema + (1.0 - m) * last
            ema.assign(flag * blended + (1.0 - flag) * last)
        self.initialized.assign(ops.ones_like(flag))

    def compute_output_shape(self, features_shape, *args, **kwargs):
        return ()

    def compute_output_spec(self, features, *args, **kwargs):
        return keras.KerasTensor((), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum})
        return config
