"""`NonFiniteGuard`: stop (and roll back) when a loss term turns NaN/inf."""

import math

import keras

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.callbacks.NonFiniteGuard")
class NonFiniteGuard(keras.callbacks.Callback):
    """Stops distillation when a logged term becomes NaN or infinite.

    After every round it reads the round's logs (the running means of every
    loss term and metric, so a single non-finite step shows at once). On
    the first non-finite value it stops training, records
    `self.failure = {"round": r, "epoch": e, "terms": [...]}`, and says
    which terms failed. With `rollback=True` it then restores every
    variable of the distiller (networks, method state, optimizer slots)
    to the end of the last epoch whose logs were all finite.

    Place it first in the callback list: the rollback happens at the end
    of the failed epoch, before later callbacks (e.g. `BackupAndRestore`)
    save anything.

    Args:
        rollback: bool. Restore the last finite epoch's state. Defaults to
            `True`.
        raise_error: bool. After stopping (and rolling back), raise a
            `FloatingPointError` naming the terms, so that scripts fail
            loudly. Defaults to `False`.

    Example:

    ```python
    guard = keras_dfkd.callbacks.NonFiniteGuard()
    distiller.fit(steps=1000, steps_per_epoch=100, callbacks=[guard])
    if guard.failure:
        print("stopped:", guard.failure["terms"])
    ```
    """

    def __init__(self, rollback=True, raise_error=False):
        super().__init__()
        self.rollback = rollback
        self.raise_error = raise_error
        self.failure = None
        self._snapshot = None
        self._round = 0
        self._epoch = 0

    def _variables(self):
        return list(self.model.variables) + list(self.model.optimizer.variables)

    def _take_snapshot(self):
        self._snapshot = [
            keras.ops.convert_to_numpy(v.value).copy()
            for v in self._variables()
        ]

    def on_train_begin(self, logs=None):
        self.failure = None
        if self.rollback:
            self._take_snapshot()

    def on_train_batch_end(self, batch, logs=None):
        self._round += 1
        if self.failure is not None:
            return
        bad = sorted(
            name
            for name, value in (logs or {}).items()
            if not math.isfinite(float(keras.ops.convert_to_numpy(value)))
        )
        if bad:
            self.failure = {
                "round": self._round,
                "epoch": self._epoch,
                "terms": bad,
            }
            self.model.stop_training = True
            print(
                f"NonFiniteGuard: {', '.join(bad)} became NaN or infinite at "
                f"round {self._round} (epoch {self._epoch + 1}); training "
                "stopped"
                + (
                    " and rolled back to the end of the last finite epoch."
                    if self.rollback
                    else "."
                )
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        # On JAX the trainer writes its state back to the variables just
        # before this hook, so restoring earlier would be overwritten.
        if self.failure is None:
            if self.rollback:
                self._take_snapshot()
            return
        if self.rollback and self._snapshot is not None:
            for variable, value in zip(self._variables(), self._snapshot):
                variable.assign(value)
            self._snapshot = None

    def on_train_end(self, logs=None):
        if self.failure is not None and self.raise_error:
            input_range = getattr(self.model, "input_range", None)
            raise FloatingPointError(
                f"{', '.join(self.failure['terms'])} became NaN or infinite "
                f"at round {self.failure['round']}. Usual causes: synthetic "
                "images outside the teacher's training domain (the "
                f"distiller's input_range is {input_range}; pass the range "
                "the teacher was trained on, e.g. input_range=(0, 1)), or "
                "learning rates too high for these networks (lower them "
                "with distiller.compile(generator_optimizer=..., "
                "student_optimizer=...))."
            )
