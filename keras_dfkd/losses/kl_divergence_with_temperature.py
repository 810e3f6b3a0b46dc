"""Temperature-scaled KL divergence (Hinton et al. knowledge distillation)."""

from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses._utils import validate_temperature
from keras_dfkd.losses.loss_function_wrapper import LossFunctionWrapper


@keras_dfkd_export("keras_dfkd.losses.kl_divergence_with_temperature")
def kl_divergence_with_temperature(
    teacher_logits, student_logits, temperature=1.0
):
    """Per-sample KL divergence between temperature-softened distributions.

    Formula:

    ```python
    log_p_t = log_softmax(teacher_logits / T)
    log_p_s = log_softmax(student_logits / T)
    loss = T**2 * sum(exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    ```

    The mean of the result over the batch equals PyTorch's
    `F.kl_div(log_p_s, p_t, reduction="batchmean") * T**2`.

    Args:
        teacher_logits: tensor of shape `(N, K)`, the teacher's logits
            (the target distribution).
        student_logits: tensor of shape `(N, K)`, the student's logits.
        temperature: positive float or scalar tensor, the softmax
            temperature `T`. Defaults to `1.0`.

    Returns:
        A tensor of shape `(N,)`, the per-sample loss.
    """
    # Losses in float32, whatever the dtype policy.
    teacher_logits = ops.cast(teacher_logits, "float32")
    student_logits = ops.cast(student_logits, "float32")
    teacher_logits = ops.convert_to_tensor(teacher_logits)
    student_logits = ops.convert_to_tensor(student_logits)
    log_p_t = ops.log_softmax(teacher_logits / temperature, axis=-1)
    log_p_s = ops.log_softmax(student_logits / temperature, axis=-1)
    kl = ops.sum(ops.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    return kl * (temperature * temperature)


@keras_dfkd_export("keras_dfkd.losses.KLDivergenceWithTemperature")
class KLDivergenceWithTemperature(LossFunctionWrapper):
    """KL divergence between temperature-softened teacher and student outputs.

    The classic knowledge-distillation loss: the student matches the
    teacher's softmax at temperature `T`, scaled by `T**2` so that gradient
    magnitudes do not depend on `T`.

    Formula:

    ```python
    p_t = softmax(y_true / T)   # teacher
    p_s = softmax(y_pred / T)   # student
    loss = T**2 * sum(p_t * (log(p_t) - log(p_s)), axis=-1)
    ```

    Log-probabilities are computed with `log_softmax` for numerical
    stability. With the default reduction the per-sample values are averaged
    over the batch, which equals PyTorch's
    `F.kl_div(..., reduction="batchmean") * T**2`.

    Args:
        temperature: positive float, the softmax temperature `T`. Defaults
            to `1.0`.
        reduction: type of reduction to apply to the per-sample losses, as
            in `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name for the loss instance. Defaults to
            `"kl_divergence_with_temperature"`.
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
    loss_fn = keras_dfkd.losses.KLDivergenceWithTemperature(temperature=4.0)
    loss = loss_fn(teacher_logits, student_logits)  # teacher first
    ```

    Reference:
        - [Hinton et al., 2015. Distilling the Knowledge in a Neural
          Network](https://arxiv.org/abs/1503.02531)
    """

    def __init__(
        self,
        temperature=1.0,
        reduction="sum_over_batch_size",
        name="kl_divergence_with_temperature",
        dtype=None,
    ):
        super().__init__(
            kl_divergence_with_temperature,
            reduction=reduction,
            name=name,
            dtype=dtype,
            temperature=validate_temperature(temperature),
        )
