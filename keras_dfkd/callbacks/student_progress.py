"""`StudentProgress`: warns when the student stays at chance."""

import warnings

import keras

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.callbacks.StudentProgress")
class StudentProgress(keras.callbacks.Callback):
    """Warns once when the student's agreement with the teacher stays low.

    `fit` adds it by default. The distiller logs `agreement`, the share of
    the synthetic images of a student step on which the student's class
    is the teacher's. At each epoch end, once the student has taken
    `min_student_steps` optimizer steps, an agreement below

    ```
    chance + margin * (1 - chance),   chance = 1 / num_classes
    ```

    means the student is learning nothing from the teacher, and this
    callback warns (once per fit), naming the usual causes: a teacher
    input range that is not the one it was trained on, or a student
    learning rate too high for this student.

    Args:
        min_student_steps: int. Student steps before the check starts.
            Defaults to `500`.
        margin: float. Share of the way from chance to full agreement
            below which the student counts as "at chance". Defaults to
            `0.1`.

    Example:

    ```python
    distiller.fit(steps=1000, callbacks=[
        keras_dfkd.callbacks.StudentProgress(min_student_steps=200)])
    ```
    """

    def __init__(self, min_student_steps=500, margin=0.1):
        super().__init__()
        if not isinstance(min_student_steps, int) or min_student_steps < 1:
            raise ValueError(
                "`min_student_steps` must be a positive int; received "
                f"{min_student_steps!r}."
            )
        if not 0.0 < margin < 1.0:
            raise ValueError(f"`margin` must be in (0, 1); received {margin}.")
        self.min_student_steps = min_student_steps
        self.margin = margin
        self.warned = False

    def on_train_begin(self, logs=None):
        self.warned = False

    def on_epoch_end(self, epoch, logs=None):
        if self.warned or not logs or "agreement" not in logs:
            return
        optimizer = self.model.optimizers.get("student")
        if optimizer is None:
            return
        steps = int(keras.ops.convert_to_numpy(optimizer.iterations))
        if steps < self.min_student_steps:
            return
        agreement = float(keras.ops.convert_to_numpy(logs["agreement"]))
        classes = self.model.method.num_classes
        chance = 1.0 / classes
        if agreement < chance + self.margin * (1.0 - chance):
            self.warned = True
            warnings.warn(
                f"After {steps} student steps the student agrees with the "
                f"teacher on only {agreement:.0%} of the synthetic images "
                f"(chance is {chance:.0%} for {classes} classes): it is "
                "not learning from the teacher. Check that the "
                "distiller's input_range is the domain the teacher was "
                f"trained on (now {self.model.input_range}), and try a "
                "smaller student learning rate, e.g. distiller.compile("
                "student_optimizer=keras.optimizers.Adam(1e-3)).",
                stacklevel=2,
            )
