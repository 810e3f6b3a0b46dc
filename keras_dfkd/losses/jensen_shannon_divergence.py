"""Jensen-Shannon divergence between student and teacher predictions."""

import math

from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.losses._utils import validate_temperature
from keras_dfkd.losses.loss_function_wrapper import LossFunctionWrapper


def clamped_reverse_js(
    teacher_logits, student_logits, temperature, reduction="mean"
):
    """The clamped Jensen-Shannon term of DeepInversion's and PRE-DFKD's code.

    ```python
    P = clip(softmax(t / T), 0.01, 0.99); Q = clip(softmax(s / T), ...)
    M = clip((P + Q) / 2, 0.01, 0.99)
    js = 0.5 * r(M * (log M - log P)) + 0.5 * r(M * (log M - log Q))
    ```

    Each KL points from `M` (PyTorch's `KLDivLoss(log P, M)`), unlike the
    textbook divergence of `keras_dfkd.losses.jensen_shannon_divergence`.
    `r` is `reduction`: `"mean"` over all `N * K` entries (PRE-DFKD's
    `KLDivLoss()` default) or `"batchmean"`, the sum over them divided by
    `N` (DeepInversion's competition term).
    """
    if reduction not in ("mean", "batchmean"):
        raise ValueError(
            "`reduction` must be 'mean' or 'batchmean'; received "
            f"{reduction!r}."
        )
    teacher_logits = ops.cast(teacher_logits, "float32")
    student_logits = ops.cast(student_logits, "float32")
    p = ops.clip(ops.softmax(teacher_logits / temperature), 0.01, 0.99)
    q = ops.clip(ops.softmax(student_logits / temperature), 0.01, 0.99)
    m = ops.clip((p + q) / 2.0, 0.01, 0.99)
    log_m = ops.log(m)
    js = 0.5 * ops.mean(m * (log_m - ops.log(p))) + 0.5 * ops.mean(
        m * (log_m - ops.log(q))
    )
    if reduction == "batchmean":
        js = js * teacher_logits.shape[-1]
    return js


@keras_dfkd_export("keras_dfkd.losses.jensen_shannon_divergence")
def jensen_shannon_divergence(teacher_logits, student_logits, temperature=1.0):
    """Per-sample Jensen-Shannon divergence (natural log).

    Formula:

    ```python
    P = softmax(student_logits / T)
    Q = softmax(teacher_logits / T)
    M = (P + Q) / 2
    loss = 0.5 * (KL(P || M) + KL(Q || M))
    ```

    Computed in log space (`log M = logaddexp(log P, log Q) - log 2`), so it
    is finite even when probabilities underflow. The result is symmetric in
    its two arguments and lies in `[0, log 2]`.

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
    log_p = ops.log_softmax(student_logits / temperature, axis=-1)
    log_q = ops.log_softmax(teacher_logits / temperature, axis=-1)
    log_m = ops.logaddexp(log_p, log_q) - math.log(2.0)
    kl_pm = ops.sum(ops.exp(log_p) * (log_p - log_m), axis=-1)
    kl_qm = ops.sum(ops.exp(log_q) * (log_q - log_m), axis=-1)
    return 0.5 * (kl_pm + kl_qm)


@keras_dfkd_export("keras_dfkd.losses.JensenShannonDivergence")
class JensenShannonDivergence(LossFunctionWrapper):
    """Jensen-Shannon divergence between student and teacher predictions.

    The competition term of DeepInversion's Adaptive DeepInversion (ADI) and
    of PRE-DFKD: the generator *minimises the negative* of this loss, i.e.
    it synthesises images on which the student disagrees with the teacher,
    while the student minimises its usual distillation loss on them.

    Formula:

    ```python
    P = softmax(y_pred / T)   # student
    Q = softmax(y_true / T)   # teacher
    M = (P + Q) / 2
    loss = 0.5 * (KL(P || M) + KL(Q || M))  # per sample
    ```

    With the default reduction the per-sample values are averaged over the
    batch. Natural logarithms are used, so values lie in `[0, log 2]`.

    Args:
        temperature: positive float, the softmax temperature `T`. Defaults
            to `1.0`.
        reduction: type of reduction to apply to the per-sample losses, as
            in `keras.losses.Loss`. Defaults to `"sum_over_batch_size"`.
        name: optional name for the loss instance. Defaults to
            `"jensen_shannon_divergence"`.
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
    competition = keras_dfkd.losses.JensenShannonDivergence(temperature=3.0)
    generator_loss = -competition(teacher_logits, student_logits)
    ```

    Reference:
        - [Yin et al., 2020. Dreaming to Distill: Data-free Knowledge Transfer
          via DeepInversion](https://arxiv.org/abs/1912.08795)
        - [Binici et al., 2022. Robust and Resource-Efficient Data-Free
          Knowledge Distillation by Generative Pseudo
          Replay](https://arxiv.org/abs/2201.03019)
    """

    def __init__(
        self,
        temperature=1.0,
        reduction="sum_over_batch_size",
        name="jensen_shannon_divergence",
        dtype=None,
    ):
        super().__init__(
            jensen_shannon_divergence,
            reduction=reduction,
            name=name,
            dtype=dtype,
            temperature=validate_temperature(temperature),
        )
