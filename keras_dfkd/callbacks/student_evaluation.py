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


def accuracy_statistics(accuracies):
    """Robustness of a run: mean, variance and largest drop of accuracies.

    PRE-DFKD's claim is a steady run, so its reports give, over the
    evaluations in order, the mean, the (population) variance and the
    largest fall between two consecutive evaluations (0 for a run that
    never falls).

    Args:
        accuracies: sequence of floats, in evaluation order.

    Returns:
        A dict with `accuracy_mean`, `accuracy_variance` and
        `largest_drop`, or `{}` for no evaluations.
    """
    values = np.asarray(accuracies, "float64")
    if values.size == 0:
        return {}
    return {
        "accuracy_mean": float(values.mean()),
        "accuracy_variance": float(values.var()),
        "largest_drop": float(np.max(values[:-1] - values[1:], initial=0.0)),
    }


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
