"""The objectives the methods share, each written once.

Every method is a configuration of these: the BN-statistics generator
objective (BNStatistics, NAYER, LargeScale), the DAFL generator terms
(DAFL, PRE-DFKD and its VAE's memory-latent step) and the student's
distillation step (KL or L1, on new and replayed images). Each returns
`(loss, logs)`, the loss a scalar in float32 and `logs` named as the
methods log them.
"""

import math

import keras
from keras import ops

from keras_dfkd import losses
from keras_dfkd.losses._utils import safe_l2_norm
from keras_dfkd.losses.jensen_shannon_divergence import clamped_reverse_js

#: What `distillation_objective` logs.
STUDENT_LOGS = ("student_loss", "agreement")

#: What `batch_norm_objective` always logs (it adds `adversarial`,
#: `balance` and `generator_loss` by its options).
BATCH_NORM_LOGS = ("batch_norm", "one_hot")

#: What `dafl_objective` logs (`activation` with features).
DAFL_LOGS = ("one_hot", "entropy", "activation")

#: The divergences an adversarial generator term can maximise.
DIVERGENCES = {
    "masked_kl": losses.masked_kl_divergence,
    "kl": losses.kl_divergence_with_temperature,
    "js": losses.jensen_shannon_divergence,
    # DeepInversion's competition term (ADI): clamped, at temperature 3.
    "clamped_js": lambda t, s: clamped_reverse_js(t, s, 3.0, "batchmean"),
}


def agreement(teacher_logits, student_logits):
    """Share of samples on which teacher and student agree."""
    same = ops.equal(
        ops.argmax(teacher_logits, axis=-1),
        ops.argmax(student_logits, axis=-1),
    )
    return ops.mean(ops.cast(same, "float32"))


def distillation_objective(
    teacher_logits, student_logits, divergence="kl", temperature=1.0
):
    """The student's loss: KL at `temperature` (x T^2), or L1 on logits.

    Formula:

    ```
    kl: mean KL(softmax(t / T) || softmax(s / T)) * T^2
    l1: mean |t - s|                                  (DFAD, PRE-DFKD)
    ```

    Args:
        teacher_logits: `(N, K)`, the target (stop its gradient where the
            images come from a generator being trained at the same time).
        student_logits: `(N, K)`.
        divergence: `"kl"` or `"l1"`. Defaults to `"kl"`.
        temperature: float, KL's. Defaults to `1.0`.

    Returns:
        `(loss, {"student_loss": loss, "agreement": share})`.
    """
    if divergence == "kl":
        loss = ops.mean(
            losses.kl_divergence_with_temperature(
                teacher_logits, student_logits, temperature
            )
        )
    elif divergence == "l1":
        loss = ops.mean(losses.l1_logits_loss(teacher_logits, student_logits))
    else:
        raise ValueError(
            f"`divergence` must be 'kl' or 'l1'; received {divergence!r}."
        )
    logs = {
        "student_loss": loss,
        "agreement": agreement(teacher_logits, student_logits),
    }
    return loss, logs


def batch_norm_objective(
    teacher,
    images,
    batch_norm_loss,
    labels=None,
    student=None,
    adversarial="masked_kl",
    adversarial_scale=None,
    members=1,
    batch_norm_weight=1.0,
    one_hot_weight=1.0,
    adversarial_weight=0.0,
    balance_weight=0.0,
    teacher_out=None,
):
    """The BN-statistics generator objective (DFQ, NAYER, Luo et al.).

    Formula:

    ```
    t = T(x)
    L = bn * L_bn(T's BN inputs on x; its running statistics)
        + oh * CE(t, y)                      # y = labels, or argmax t
        - adv * scale * D(t, S(x))           # with a student
        + balance * sum_k pbar_k ln pbar_k   # class balance (DFQ)
    ```

    With `members > 1` the batch is `members` equal, consecutive shares
    (one per generator of an ensemble, Luo et al.): the BN term is summed
    over the shares' own statistics and the CE term likewise, so each
    generator gets the gradient of its own objective; the logs are per
    member.

    Args:
        teacher: a `keras_dfkd.teacher.Teacher`.
        images: the images the teacher sees, in its input domain.
        batch_norm_loss: callable `(features, means, variances) -> scalar`,
            e.g. a `keras_dfkd.losses.BatchNormStatisticsLoss` (with its
            EMA) or `keras_dfkd.losses.batch_norm_statistics_loss`.
        labels: `None` (the teacher's argmax) or int labels `(N,)`.
        student: `None` (no adversarial term) or the student, run in
            inference mode.
        adversarial: a key of `DIVERGENCES`. Defaults to `"masked_kl"`.
        adversarial_scale: `None` or a scalar multiplying the adversarial
            term (e.g. 0 during a warm-up).
        members: int. Equal shares of the batch. Defaults to `1`.
        batch_norm_weight, one_hot_weight, adversarial_weight,
        balance_weight: floats; a term with weight 0 is left out (the
            adversarial term is also left out without a student).
        teacher_out: `None`, or the teacher's outputs on `images` when the
            caller has them already.

    Returns:
        `(loss, logs)` with logs `batch_norm`, `one_hot`, `generator_loss`,
        and `adversarial` / `balance` where those terms are used.
    """
    if teacher_out is None:
        teacher_out = teacher(images)
    logits = teacher_out["logits"]
    means, variances = teacher.batch_norm_statistics()
    features = teacher_out["batch_norm_inputs"]
    if members == 1:
        batch_norm = batch_norm_loss(features, means, variances)
    else:
        shares = zip(*[ops.split(f, members) for f in features])
        batch_norm = sum(
            batch_norm_loss(list(share), means, variances) for share in shares
        )
    if labels is None:
        one_hot = ops.mean(losses.one_hot_cross_entropy(logits))
    else:
        one_hot = members * ops.mean(
            keras.losses.sparse_categorical_crossentropy(
                labels,
                # Losses in float32 under a mixed-precision policy.
                ops.cast(logits, "float32"),
                from_logits=True,
            )
        )
    loss = batch_norm_weight * batch_norm + one_hot_weight * one_hot
    logs = {"batch_norm": batch_norm, "one_hot": one_hot}
    if student is not None and adversarial_weight:
        divergence = DIVERGENCES[adversarial]
        student_logits = student(images, training=False)
        adversarial_term = -ops.mean(divergence(logits, student_logits))
        if adversarial_scale is not None:
            adversarial_term = adversarial_scale * adversarial_term
        loss = loss + adversarial_weight * adversarial_term
        logs["adversarial"] = adversarial_term
    if balance_weight:
        # DFQ's balance term uses the natural log; DAFL's uses log10.
        balance = losses.information_entropy_loss(logits) * math.log(10.0)
        loss = loss + balance_weight * balance
        logs["balance"] = balance
    logs["generator_loss"] = loss
    if members > 1:
        logs = {name: value / members for name, value in logs.items()}
    return loss, logs


def dafl_objective(
    logits,
    features=None,
    one_hot_weight=1.0,
    entropy_weight=5.0,
    activation_weight=0.1,
):
    """DAFL's generator terms: one-hot, information entropy, activation.

    Formula:

    ```
    L = oh * CE(t, argmax t) + ie * sum_k pbar_k log10 pbar_k - a * mean|f|
    ```

    Args:
        logits: the teacher's logits `(N, K)`.
        features: `None` (no activation term) or the teacher's
            penultimate features.
        one_hot_weight, entropy_weight, activation_weight: floats.

    Returns:
        `(loss, logs)` with logs `one_hot`, `entropy` and, with features,
        `activation`.
    """
    one_hot = ops.mean(losses.one_hot_cross_entropy(logits))
    entropy = losses.information_entropy_loss(logits)
    loss = one_hot_weight * one_hot + entropy_weight * entropy
    logs = {"one_hot": one_hot, "entropy": entropy}
    if features is not None:
        activation = ops.mean(losses.activation_loss(features))
        loss = loss + activation_weight * activation
        logs["activation"] = activation
    return loss, logs


#: What `image_prior_objective` logs.
IMAGE_PRIOR_LOGS = ("total_variation", "l2")


def image_prior_objective(images, total_variation_weight=0.0, l2_weight=0.0):
    """DeepInversion's image priors: total variation and the l2 norm.

    Formula (`x`: the batch `(N, H, W, C)` as the teacher sees it):

    ```
    d = [x[:, :, :-1] - x[:, :, 1:],     # along rows
         x[:, :-1] - x[:, 1:],           # along columns
         x[:, 1:, :-1] - x[:, :-1, 1:],  # the two diagonals
         x[:, :-1, :-1] - x[:, 1:, 1:]]
    tv = sum_k ||d_k||_2            (each norm over the whole batch)
    L = tv_w * tv + l2_w * ||x||_2
    ```

    as DeepInversion's code computes its TV-L2 prior (plain, unsquared
    norms of the whole batch).

    Args:
        images: the batch, in the teacher's input domain.
        total_variation_weight, l2_weight: floats.

    Returns:
        `(loss, {"total_variation": tv, "l2": ||x||_2})`.
    """
    x = ops.cast(images, "float32")
    differences = (
        x[:, :, :-1] - x[:, :, 1:],
        x[:, :-1] - x[:, 1:],
        x[:, 1:, :-1] - x[:, :-1, 1:],
        x[:, :-1, :-1] - x[:, 1:, 1:],
    )
    total_variation = sum(safe_l2_norm(d) for d in differences)
    l2 = safe_l2_norm(x)
    loss = total_variation_weight * total_variation + l2_weight * l2
    return loss, {"total_variation": total_variation, "l2": l2}
