"""The optimizers of the methods' papers, built from their settings."""

import keras

#: The student optimizers a method's `student_optimizer` can name.
STUDENT_OPTIMIZERS = ("auto", "adam", "sgd")

#: The students' Adam learning rate when none is given.
ADAM_STUDENT_LEARNING_RATE = 1e-3


def check_student_optimizer(kind):
    """Raises a clear `ValueError` unless `kind` is in `STUDENT_OPTIMIZERS`."""
    if kind not in STUDENT_OPTIMIZERS:
        raise ValueError(
            f"`student_optimizer` must be one of {STUDENT_OPTIMIZERS}; "
            f"received {kind!r}. Pass any other optimizer to "
            "distiller.compile(student_optimizer=...)."
        )


def resolve_student_optimizer(kind, student_has_batch_norm):
    """`"auto"`: `"sgd"` for a student with BatchNorm, else `"adam"`.

    The papers' students train with SGD (momentum 0.9) at 0.1-0.2, rates
    that BatchNorm makes safe. Without it the same rates diverge or kill
    the ReLUs: on the zoo's VGG pair (a 3-conv student without BN), NAYER
    at SGD 0.2 ended at chance (10 %); Adam at 1e-3 learns.
    """
    check_student_optimizer(kind)
    if kind == "auto":
        return "sgd" if student_has_batch_norm else "adam"
    return kind


def cosine_or_constant(
    learning_rate, decay_rounds=None, steps_per_round=1, final_fraction=0.0
):
    """`learning_rate`, or its cosine decay to `final_fraction` of it.

    The decay spans `decay_rounds` rounds of `steps_per_round` optimizer
    steps each (`None`: a constant rate).
    """
    if decay_rounds is None:
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(
        learning_rate,
        decay_steps=decay_rounds * steps_per_round,
        alpha=final_fraction,
    )


def make_student_optimizer(kind, learning_rate, weight_decay=0.0):
    """`"adam"`: Adam; `"sgd"`: SGD with momentum 0.9 and weight decay.

    Keras applies the weight decay decoupled from the gradient.
    """
    if kind not in ("adam", "sgd"):
        raise ValueError(f"Resolve {kind!r} first: 'adam' or 'sgd'.")
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.SGD(
        learning_rate, momentum=0.9, weight_decay=weight_decay
    )


def generator_adam(learning_rate):
    """The DCGAN-style generators' Adam(beta_1=0.5, beta_2=0.999)."""
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999)

