"""Cross-entropy of the teacher against its own arg-max labels (DAFL)."""

from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses.loss_function_wrapper import LossFunctionWrapper
from keras_dfkd.losses.loss_function_wrapper import predictions_only


@keras_dfkd_export("keras_dfkd.losses.one_hot_cross_entropy")
def one_hot_cross_entropy(logits):
    """Per-sample cross-entropy against the logits' own arg-max labels.

    Formula:

    ```python
    labels = stop_gradient(one_hot(argmax(logits, axis=-1)))
    loss = -sum(labels * log_softmax(logits), axis=-1)
    ```

    Args:
        logits: tensor of shape `(N, K)`, typically the teacher's logits on
            generated images.

    Returns:
        A tensor of shape `(N,)`, the per-sample loss.
    """
    # Losses in float32, whatever the dtype policy.
    logits = ops.cast(logits, "float32")
    logits = ops.convert_to_tensor(logits)
    log_probs = ops.log_softmax(logits, axis=-1)
    labels = ops.one_hot(
        ops.argmax(logits, axis=-1), logits.shape[-1], dtype=log_probs.dtype
    )
    labels = ops.stop_gradient(labels)
    return -ops.sum(labels * log_probs, axis=-1)


@keras_dfkd_export("keras_dfkd.losses.OneHotCrossEntropy")
class OneHotCrossEntropy(LossFunctionWrapper):
    """DAFL one-hot loss: cross-entropy against the teacher's own predictions.

    Encourages the generator to produce images that the teacher classifies
    confidently: the arg-max of the teacher's logits is used as a (constant)
    pseudo-label.

    Formula:

    ```python
    labels = stop_gradient(argmax(y_pred, axis=-1))
    loss = -log(softmax(y_pred)[labels])  # per sample
    ```

    With the default reduction the per-sample values are averaged over the
    batch, as in DAFL's `nn.CrossEntropyLoss()(outputs_T, pred)`.

    The target is unused: `y_true` is ignored, and callers may pass the
    logits twice, `loss_fn(logits, logits)`.

    Args:
        reduction: type of reduction to apply to the per-sample losses, as
            in `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name for the loss instance. Defaults to
            `"one_hot_cross_entropy"`.
        dtype: dtype of the loss's computations. Defaults to `None`, which
            means `keras.backend.floatx()`.

    Call arguments:
        y_true: ignored.
        y_pred: tensor of shape `(N, K)`, the teacher's logits.
        sample_weight: optional per-sample weights.

    Returns:
        The reduced loss (a scalar with the default reduction).

    Example:

    ```python
    loss_fn = keras_dfkd.losses.OneHotCrossEntropy()
    loss = loss_fn(teacher_logits, teacher_logits)
    ```

    Reference:
        - [Chen et al., 2019. Data-Free Learning of Student
          Networks](https://arxiv.org/abs/1904.01186)
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="one_hot_cross_entropy",
        dtype=None,
    ):
        super().__init__(
            predictions_only(one_hot_cross_entropy),
            reduction=reduction,
            name=name,
            dtype=dtype,
        )
