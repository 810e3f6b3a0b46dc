"""Negative information entropy of the mean prediction (DAFL)."""

import math

from keras import ops

from keras_dfkd import backend
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses.loss_function_wrapper import LossFunctionWrapper
from keras_dfkd.losses.loss_function_wrapper import predictions_only


@keras_dfkd_export("keras_dfkd.losses.information_entropy_loss")
def information_entropy_loss(logits):
    """Negative base-10 entropy of the batch-averaged softmax.

    Formula:

    ```python
    p_bar = mean(softmax(logits), axis=0)   # (K,)
    loss = sum(p_bar * log10(p_bar))        # scalar, <= 0
    ```

    Terms with `p_bar_k == 0` contribute `0` (the limit of `p log p`), with
    a zero gradient, so neither the value nor the gradient can become NaN.

    Args:
        logits: tensor of shape `(N, K)`, typically the teacher's logits on
            generated images.

    Returns:
        A scalar tensor (a batch-level quantity, not a per-sample one).
    """
    # Losses in float32, whatever the dtype policy.
    logits = ops.cast(logits, "float32")
    logits = ops.convert_to_tensor(logits)
    # The global batch's mean prediction on several TF replicas.
    mean_probs = backend.cross_replica_mean(
        ops.mean(ops.softmax(logits, axis=-1), axis=0)
    )
    positive = mean_probs > 0.0
    safe_probs = ops.where(positive, mean_probs, ops.ones_like(mean_probs))
    terms = ops.where(
        positive,
        mean_probs * ops.log(safe_probs),
        ops.zeros_like(mean_probs),
    )
    return ops.sum(terms) / math.log(10.0)


@keras_dfkd_export("keras_dfkd.losses.InformationEntropyLoss")
class InformationEntropyLoss(LossFunctionWrapper):
    """DAFL information-entropy loss: balances the predicted classes.

    The negative entropy (base 10, as in DAFL's code) of the teacher's
    softmax averaged over the batch. Minimising it pushes the generator to
    produce a batch whose predictions are spread evenly over the classes.

    Formula:

    ```python
    p_bar = mean(softmax(y_pred), axis=0)
    loss = sum(p_bar * log10(p_bar))
    ```

    Entries with `p_bar_k == 0` contribute `0` (NaN-safe, no epsilon).

    This is a batch-level loss: `call` returns a scalar, so `sample_weight`
    has no per-sample meaning and should be left unset. The target is
    unused: `y_true` is ignored, and callers may pass the logits twice,
    `loss_fn(logits, logits)`.

    Args:
        reduction: type of reduction, as in `keras.losses.Loss`; it leaves
            the scalar unchanged for every choice except `"sum"` /
            `"sum_over_batch_size"` with sample weights. Defaults to
            `"sum_over_batch_size"`.
        name: optional name for the loss instance. Defaults to
            `"information_entropy_loss"`.
        dtype: dtype of the loss's computations. Defaults to `None`, which
            means `keras.backend.floatx()`.

    Call arguments:
        y_true: ignored.
        y_pred: tensor of shape `(N, K)`, the teacher's logits.
        sample_weight: should be `None`.

    Returns:
        A scalar tensor.

    Example:

    ```python
    loss_fn = keras_dfkd.losses.InformationEntropyLoss()
    loss = loss_fn(teacher_logits, teacher_logits)
    ```

    Reference:
        - [Chen et al., 2019. Data-Free Learning of Student
          Networks](https://arxiv.org/abs/1904.01186)
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="information_entropy_loss",
        dtype=None,
    ):
        super().__init__(
            predictions_only(information_entropy_loss),
            reduction=reduction,
            name=name,
            dtype=dtype,
        )
