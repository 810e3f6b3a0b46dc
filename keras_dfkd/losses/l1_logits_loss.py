"""Mean absolute error between teacher and student logits (DFAD)."""

from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses.loss_function_wrapper import LossFunctionWrapper


@keras_dfkd_export("keras_dfkd.losses.l1_logits_loss")
def l1_logits_loss(teacher_logits, student_logits):
    """Per-sample mean absolute difference between logits.

    Formula:

    ```python
    loss = mean(abs(student_logits - teacher_logits), axis=-1)
    ```

    The mean of the result over the batch equals PyTorch's
    `F.l1_loss(student_logits, teacher_logits)`.

    Args:
        teacher_logits: tensor of shape `(N, K)`, the teacher's logits.
        student_logits: tensor of shape `(N, K)`, the student's logits.

    Returns:
        A tensor of shape `(N,)`, the per-sample loss.
    """
    # Losses in float32, whatever the dtype policy.
    teacher_logits = ops.cast(teacher_logits, "float32")
    student_logits = ops.cast(student_logits, "float32")
    teacher_logits = ops.convert_to_tensor(teacher_logits)
    student_logits = ops.convert_to_tensor(student_logits)
    return ops.mean(ops.abs(student_logits - teacher_logits), axis=-1)


@keras_dfkd_export("keras_dfkd.losses.L1LogitsLoss")
class L1LogitsLoss(LossFunctionWrapper):
    """Mean absolute error between teacher and student logits.

    Used by DFAD as the teacher-student discrepancy that the student
    minimises and the generator maximises.

    Formula:

    ```python
    loss = mean(abs(y_pred - y_true), axis=-1)  # per sample
    ```

    With the default reduction the per-sample values are averaged over the
    batch, which equals PyTorch's `F.l1_loss(student, teacher)`.

    Args:
        reduction: type of reduction to apply to the per-sample losses, as
            in `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name for the loss instance. Defaults to
            `"l1_logits_loss"`.
        dtype: dtype of the loss's computations. Defaults to `None`, which
            means `keras.backend.floatx()`.

    Call arguments:
        y_true: tensor of shape `(N, K)`, the teacher's logits.
        y_pred: tensor of shape `(N, K)`, the student's logits.
        sample_weight: optional per-sample weights.

    Returns:
        The reduced loss (a scalar with the default reduction).

    Example:

    ```python
    loss_fn = keras_dfkd.losses.L1LogitsLoss()
    loss = loss_fn(teacher_logits, student_logits)
    ```

    Reference:
        - [Fang et al., 2019. Data-Free Adversarial
          Distillation](https://arxiv.org/abs/1912.11006)
    """

    def __init__(
        self,
        reduction="sum_over_batch_size",
        name="l1_logits_loss",
        dtype=None,
    ):
        super().__init__(
            l1_logits_loss, reduction=reduction, name=name, dtype=dtype
        )
