"""`StudentEvaluation`: real-data accuracy of the student, for reporting."""

import time

import keras
import numpy as np

from keras_dfkd.api_export import keras_dfkd_export


def student_accuracy(student, x, y, batch_size=500):
    """Top-1 accuracy of `student` on `(x, y)` in inference mode."""
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = student(x[start : start + batch_size], training=False)
        predicted = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1)
        correct += int(np.sum(predicted == y[start : start + batch_size]))
    return correct / len(x)


@keras_dfkd_export("keras_dfkd.callbacks.StudentEvaluation")
class StudentEvaluation(keras.callbacks.Callback):
    """Records the student's accuracy on real data every few epochs.

    For reporting only: it never changes training and never selects a
    student. The value goes into the epoch logs as `student_accuracy`
    (so `History`, `CSVLogger` and `TensorBoard` see it) and into
    `self.records` with the wall time and round count.

    Args:
        x: real images, preprocessed like the teacher's training data.
        y: integer labels.
        every_n_epochs: int. Defaults to `1`.
        batch_size: int. Defaults to `500`.

    Example:

    ```python
    evaluation = keras_dfkd.callbacks.StudentEvaluation(x_test, y_test)
    distiller.fit(steps=1000, steps_per_epoch=100, callbacks=[evaluation])
    print(evaluation.records[-1])
    ```
    """

    def __init__(self, x, y, every_n_epochs=1, batch_size=500):
        super().__init__()
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(
                "`x` and `y` must be non-empty and of equal length; received "
                f"{len(x)} and {len(y)}."
            )
        self.x = np.asarray(x, "float32")
        self.y = np.asarray(y).reshape(-1)
        self.every_n_epochs = every_n_epochs
        self.batch_size = batch_size
        self.records = []

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        accuracy = student_accuracy(
            self.model.student, self.x, self.y, self.batch_size
        )
        if logs is not None:
            logs["student_accuracy"] = accuracy
        self.records.append(
            {
                "epoch": epoch + 1,
                "seconds": time.perf_counter() - self._start,
                "student_accuracy": accuracy,
            }
        )
