"""`StudentProgress`: warns when the student stays at chance."""

import warnings

import keras
import numpy as np

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.callbacks.StudentProgress")
class StudentProgress(keras.callbacks.Callback):
    """Warns once when the student's agreement with the teacher stays low.

    `fit` adds it by default. Once the student has taken
    `min_student_steps` optimizer steps, then at every epoch end and when
    training ends, it draws `batch_size` fresh images with
    `distiller.generate` and measures the *agreement*, the share of them
    on which the student's class is the teacher's, both in inference mode
    (as the student will be used). An agreement below

    ```
    chance + margin * (1 - chance),   chance = 1 / num_classes
    ```

    means the student has learned nothing usable from the teacher, and
    the callback warns (once per fit), naming the usual causes: a teacher
    input range that is not the one it was trained on, or a student
    learning rate too high for this student. Inference mode matters: the
    logged `agreement` is measured in training mode, where a student
    whose BatchNorm moving statistics are off still looks fine.

    Args:
        min_student_steps: int. Student steps before the check starts.
            Defaults to `200`.
        margin: float. Share of the way from chance to full agreement
            below which the student counts as "at chance". Defaults to
            `0.1`.
        batch_size: int. Synthetic images per check. Defaults to `256`.

    Example:

    ```python
    distiller.fit(steps=1000, callbacks=[
        keras_dfkd.callbacks.StudentProgress(min_student_steps=500)])
    ```
    """

    def __init__(self, min_student_steps=200, margin=0.1, batch_size=256):
        super().__init__()
        if not isinstance(min_student_steps, int) or min_student_steps < 1:
            raise ValueError(
                "`min_student_steps` must be a positive int; received "
                f"{min_student_steps!r}."
            )
        if not 0.0 < margin < 1.0:
            raise ValueError(f"`margin` must be in (0, 1); received {margin}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"`batch_size` must be a positive int; received {batch_size!r}."
            )
        self.min_student_steps = min_student_steps
        self.margin = margin
        self.batch_size = batch_size
        self.warned = False
        self.agreement = None

    def on_train_begin(self, logs=None):
        self.warned = False
        self.agreement = None

    def on_epoch_end(self, epoch, logs=None):
        self.check()

    def on_train_end(self, logs=None):
        self.check()

    def student_steps(self):
        optimizer = self.model.optimizers.get("student")
        if optimizer is None:
            return 0
        return int(keras.ops.convert_to_numpy(optimizer.iterations))

    def measure_agreement(self):
        """The inference-mode agreement on `batch_size` fresh images."""
        distiller = self.model
        images = distiller.generate(self.batch_size)
        teacher = distiller.teacher(images, training=False)
        student = distiller.student(images, training=False)
        teacher = np.argmax(keras.ops.convert_to_numpy(teacher), axis=-1)
        student = np.argmax(keras.ops.convert_to_numpy(student), axis=-1)
        return float(np.mean(teacher == student))

    def check(self):
        """Measures the agreement and warns if it is near chance."""
        if self.warned:
            return
        steps = self.student_steps()
        if steps < self.min_student_steps:
            return
        self.agreement = self.measure_agreement()
        classes = self.model.method.num_classes
        chance = 1.0 / classes
        if self.agreement < chance + self.margin * (1.0 - chance):
            self.warned = True
            warnings.warn(
                f"After {steps} student steps the student (in inference "
                f"mode) agrees with the teacher on only "
                f"{self.agreement:.0%} of fresh synthetic images (chance "
                f"is {chance:.0%} for {classes} classes): it is not "
                "learning from the teacher. Check that the distiller's "
                "input_range is the domain the teacher was trained on "
                f"(now {self.model.input_range}), and try a smaller "
                "student learning rate, e.g. distiller.compile("
                "student_optimizer=keras.optimizers.Adam(1e-3)).",
                stacklevel=2,
            )

    def get_config(self):
        return {
            "min_student_steps": self.min_student_steps,
            "margin": self.margin,
            "batch_size": self.batch_size,
        }
