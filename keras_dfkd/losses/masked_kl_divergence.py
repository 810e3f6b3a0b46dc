"""KL divergence masked to samples on which teacher and student agree."""

from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses._utils import validate_temperature
from keras_dfkd.losses.loss_function_wrapper import LossFunctionWrapper


@keras_dfkd_export("keras_dfkd.losses.masked_kl_divergence")
def masked_kl_divergence(teacher_logits, student_logits, temperature=1.0):
    """Per-sample KL divergence, zeroed where the predicted classes differ.

    Formula:

    ```python
    log_p_t = log_softmax(teacher_logits / T)
    log_p_s = log_softmax(student_logits / T)
    kl = sum(exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    mask = stop_gradient(argmax(student_logits) == argmax(teacher_logits))
    loss = mask * kl
    ```

    No `T**2` factor is applied.

    Args:
        teacher_logits: tensor of shape `(N, K)`, the teacher's logits.
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
    agree = ops.equal(
        ops.argmax(student_logits, axis=-1),
        ops.argmax(teacher_logits, axis=-1),
    )
    mask = ops.stop_gradient(ops.cast(agree, kl.dtype))
    return mask * kl


@keras_dfkd_export("keras_dfkd.losses.MaskedKLDivergence")
class MaskedKLDivergence(LossFunctionWrapper):
    """KL divergence restricted to samples where teacher and student agree.

    The adversarial (boundary-sample) term of CMI, Fast and NAYER. The
    generator *minimises the negative* of this loss, i.e. it maximises the
    teacher-student disagreement, but only on samples whose predicted class
    is the same for both networks. Samples the student already misclassifies
    are masked out, which keeps the synthetic images from drifting away from
    the teacher's decision regions.

    Formula:

    ```python
    p_t = softmax(y_true / T)   # teacher
    p_s = softmax(y_pred / T)   # student
    mask = stop_gradient(argmax(y_pred) == argmax(y_true))
    loss = mask * sum(p_t * (log(p_t) - log(p_s)), axis=-1)  # per sample
    ```

    The mask is a constant (no gradient flows through the `argmax`). With
    the default reduction the per-sample values are averaged over the whole
    batch (masked samples count as zeros in the mean). No `T**2` factor is
    applied; the reference implementations use `T = 1`.

    Args:
        temperature: positive float, the softmax temperature `T`. Defaults
            to `1.0`.
        reduction: type of reduction to apply to the per-sample losses, as
            in `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name for the loss instance. Defaults to
            `"masked_kl_divergence"`.
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
    adversarial = keras_dfkd.losses.MaskedKLDivergence()
    # Generator objective: maximise agreeing-sample disagreement.
    generator_loss = -adversarial(teacher_logits, student_logits)
    ```

    Reference:
        - [Fang et al., 2021. Contrastive Model Inversion for Data-Free
          Knowledge Distillation](https://arxiv.org/abs/2105.08584)
        - [Fang et al., 2022. Up to 100x Faster Data-free Knowledge
          Distillation](https://arxiv.org/abs/2112.06253)
        - [Tran et al., 2024. NAYER: Noisy Layer Data Generation for Efficient
          and Effective Data-free Knowledge
          Distillation](https://arxiv.org/abs/2310.00258)
    """

    def __init__(
        self,
        temperature=1.0,
        reduction="sum_over_batch_size",
        name="masked_kl_divergence",
        dtype=None,
    ):
        super().__init__(
            masked_kl_divergence,
            reduction=reduction,
            name=name,
            dtype=dtype,
            temperature=validate_temperature(temperature),
        )
