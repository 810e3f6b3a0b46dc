"""The optimizers of the methods' papers, built from their settings."""

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export

#: The student optimizers a method's `student_optimizer` can name.
STUDENT_OPTIMIZERS = ("auto", "adam", "sgd", "sgd_l2")

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
    steps each (`None`: a constant rate; `"fit"`: a `RunLengthCosineDecay`
    whose length the first `fit` sets).
    """
    if decay_rounds is None:
        return learning_rate
    if decay_rounds == "fit":
        return RunLengthCosineDecay(learning_rate, alpha=final_fraction)
    return keras.optimizers.schedules.CosineDecay(
        learning_rate,
        decay_steps=decay_rounds * steps_per_round,
        alpha=final_fraction,
    )


def make_student_optimizer(kind, learning_rate, weight_decay=0.0):
    """`"adam"`: Adam; `"sgd"`/`"sgd_l2"`: SGD, momentum 0.9, weight decay.

    `"sgd"` applies the weight decay as Keras does, decoupled from the
    gradient; `"sgd_l2"` as PyTorch's SGD does, in the gradient
    (`CoupledWeightDecaySGD`).
    """
    if kind not in ("adam", "sgd", "sgd_l2"):
        raise ValueError(f"Resolve {kind!r} first: 'adam' or 'sgd'.")
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate)
    if kind == "sgd_l2":
        return CoupledWeightDecaySGD(
            learning_rate, momentum=0.9, l2=weight_decay
        )
    return keras.optimizers.SGD(
        learning_rate, momentum=0.9, weight_decay=weight_decay
    )


def generator_adam(learning_rate):
    """The DCGAN-style generators' Adam(beta_1=0.5, beta_2=0.999)."""
    return keras.optimizers.Adam(learning_rate, beta_1=0.5, beta_2=0.999)


@keras_dfkd_export("keras_dfkd.optimizers.RunLengthCosineDecay")
@keras.saving.register_keras_serializable(package="keras_dfkd")
class RunLengthCosineDecay(keras.optimizers.schedules.CosineDecay):
    """Cosine decay whose length is set when the run's length is known.

    Keras's `CosineDecay` with `decay_steps` left open: the distiller's
    `fit(steps=N)` sets it (through the method's `on_fit_begin`) to the
    student steps the fit will take, so that the rate reaches its floor at
    the end of the run, as the papers' `CosineAnnealingLR(T_max=epochs)`
    does, whatever `N` is. Once set it stays (a later fit continues at
    the floor); it is saved with the optimizer's config.

    ```
    c = (1 + cos(pi * min(step, D) / D)) / 2
    lr(step) = lr0 * (alpha + (1 - alpha) * c)
    ```

    Args:
        initial_learning_rate: float. `lr0`.
        alpha: float. The floor as a fraction of `lr0`. Defaults to `0.0`.
        decay_steps: int or `None`. `D`; `None` until a fit sets it
            (until then the rate is `lr0`).
        **kwargs: the other `CosineDecay` arguments (`name`, ...).

    Example:

    ```python
    distiller.compile(student_optimizer=keras.optimizers.SGD(
        keras_dfkd.optimizers.RunLengthCosineDecay(0.1), momentum=0.9))
    distiller.fit(steps=600)     # the rate reaches 0 at round 600
    ```
    """

    def __init__(
        self, initial_learning_rate, alpha=0.0, decay_steps=None, **kwargs
    ):
        super().__init__(
            initial_learning_rate, decay_steps or 1, alpha=alpha, **kwargs
        )
        self.decay_steps = decay_steps

    def __call__(self, step):
        if self.decay_steps is None:
            # Before a fit sets the length: the rate the decay starts at.
            return ops.convert_to_tensor(self.initial_learning_rate)
        return super().__call__(step)


@keras_dfkd_export("keras_dfkd.optimizers.CoupledWeightDecaySGD")
class CoupledWeightDecaySGD(keras.optimizers.SGD):
    """SGD whose weight decay is an L2 term in the gradient, as PyTorch's.

    PyTorch's `torch.optim.SGD(weight_decay=wd)` adds `wd * w` to the
    gradient before the momentum buffer; Keras's `weight_decay` instead
    shrinks the weights by `lr * wd * w` outside the momentum, which at
    momentum 0.9 decays about ten times less:

    ```
    g = grad + l2 * w                 # every variable, as PyTorch does
    m = momentum * m - lr * g;  w = w + m
    ```

    Args:
        learning_rate: float or schedule. Defaults to `0.01`.
        momentum: float. Defaults to `0.0`.
        nesterov: bool. Defaults to `False`.
        l2: float. The coupled decay `wd`. Defaults to `0.0`.
        **kwargs: the other `keras.optimizers.SGD` arguments (not
            `weight_decay`, the decoupled form).

    Example:

    >>> optimizer = keras_dfkd.optimizers.CoupledWeightDecaySGD(
    ...     0.1, momentum=0.9, l2=5e-4)
    """

    def __init__(
        self, learning_rate=0.01, momentum=0.0, nesterov=False, l2=0.0, **kwargs
    ):
        if kwargs.get("weight_decay"):
            raise ValueError(
                "CoupledWeightDecaySGD takes its decay as `l2`; "
                "`weight_decay` is Keras's decoupled form."
            )
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate, momentum, nesterov, **kwargs)
        if not isinstance(l2, (int, float)) or l2 < 0:
            raise ValueError(f"`l2` must be a number >= 0; received {l2!r}.")
        self.l2 = l2

    def update_step(self, gradient, variable, learning_rate):
        if self.l2:
            gradient = ops.add(
                ops.cast(gradient, variable.dtype),
                ops.multiply(ops.cast(self.l2, variable.dtype), variable),
            )
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["l2"] = self.l2
        return config


__all__ = ["CoupledWeightDecaySGD", "RunLengthCosineDecay"]
