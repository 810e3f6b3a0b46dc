"""Negative mean absolute activation of the features (DAFL)."""

from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses.loss_function_wrapper import LossFunctionWrapper
from keras_dfkd.losses.loss_function_wrapper import predictions_only


@keras_dfkd_export("keras_dfkd.losses.activation_loss")
def activation_loss(features):
    """Per-sample negative mean absolute activation.

    Formula:

    ```python
    loss = -mean(abs(features), axis=all_but_first)
    ```

    The batch mean of the result equals DAFL's `-features.abs().mean()`
    (every sample has the same number of elements).

    Args:
        features: tensor of shape `(N, ...)`, typically the teacher's
            penultimate features on generated images.

    Returns:
        A tensor of shape `(N,)`, the per-sample loss.
    """
    # Losses in float32, whatever the dtype policy.
    features = ops.cast(features, "float32")
    features = ops.convert_to_tensor(features)
    magnitude = ops.abs(features)
    if len(features.shape) > 1:
        magnitude = ops.mean(
            magnitude, axis=tuple(range(1, len(features.shape)))
        )
    return -magnitude


@keras_dfkd_export("keras_dfkd.losses.ActivationLoss")
class ActivationLoss(LossFunctionWrapper):
    """DAFL activation loss: rewards strongly activated teacher features.

    The negative mean absolute value of the teacher's penultimate features.
    Minimising it pushes the generator towards images that excite the
    teacher's feature extractor, like real training images do.

    Formula:

    ```python
    loss = -mean(abs(y_pred))   # over all elements
    ```

    `call` returns the per-sample means; with the default reduction their
    batch average equals the mean over all elements.

    The target is unused: `y_true` is ignored, and callers may pass the
    features twice, `loss_fn(features, features)`.

    Args:
        reduction: type of reduction to apply to the per-sample losses, as
            in `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name for the loss instance. Defaults to
            `"activation_loss"`.
        dtype: dtype of the loss's computations. Defaults to `None`, which
            means `keras.backend.floatx()`.

    Call arguments:
        y_true: ignored.
        y_pred: tensor of shape `(N, ...)`, the penultimate features.
        sample_weight: optional per-sample weights.

    Returns:
        The reduced loss (a scalar with the default reduction).

    Example:

    ```python
    loss_fn = keras_dfkd.losses.ActivationLoss()
    loss = loss_fn(features, features)
    ```

    Reference:
        - [Chen et al., 2019. Data-Free Learning of Student
          Networks](https://arxiv.org/abs/1904.01186)
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="activation_loss",
        dtype=None,
    ):
        super().__init__(
            predictions_only(activation_loss),
            reduction=reduction,
            name=name,
            dtype=dtype,
        )
