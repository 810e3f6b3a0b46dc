"""`StudentEvaluation`: real-data accuracy of the student, for reporting."""

import time

import keras
import numpy as np

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.callbacks.student_accuracy")
def student_accuracy(student, x, y, batch_size=500):
    """Top-1 accuracy of `student` on `(x, y)` in inference mode."""
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = student(x[start : start + batch_size], training=False)
        predicted = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1)
        correct += int(np.sum(predicted == y[start : start + batch_size]))
    return correct / len(x)


@keras_dfkd_export("keras_dfkd.callbacks.accuracy_statistics")
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


def _arrays(x, y):
    """Numpy images and labels from arrays or a tf.data.Dataset."""
    if hasattr(x, "as_numpy_iterator") and hasattr(x, "element_spec"):
        if y is not None:
            raise ValueError(
                "With a tf.data.Dataset of (images, labels) pass no `y`."
            )
        images, labels = [], []
        for element in x.as_numpy_iterator():
            if not isinstance(element, tuple) or len(element) != 2:
                raise ValueError(
                    "The tf.data.Dataset must yield (images, labels) batches."
                )
            images.append(np.asarray(element[0]))
            labels.append(np.asarray(element[1]))
        if not images:
            raise ValueError("The tf.data.Dataset is empty.")
        if images[0].ndim == 3:  # Unbatched elements.
            return np.stack(images), np.stack(labels)
        return np.concatenate(images), np.concatenate(labels)
    if y is None:
        raise ValueError("Pass the labels `y` with the images `x`.")
    return np.asarray(x), np.asarray(y)


def _class_indices(y):
    """Class indices `(N,)` from indices or one-hot labels `(N, K)`."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        one_hot = np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)
        if not one_hot:
            raise ValueError(
                "`y` has shape (N, K) but is not one-hot; pass class "
                "indices (N,) or one-hot labels."
            )
        return y.argmax(axis=1)
    if y.ndim > 1 and y.size == len(y):
        y = y.reshape(-1)
    if (
        y.ndim != 1
        or not np.issubdtype(y.dtype, np.integer)
        and not np.all(np.mod(y, 1) == 0)
    ):
        raise ValueError(
            "`y` must be integer class indices (N,) or one-hot labels "
            f"(N, K); received shape {y.shape}, dtype {y.dtype}."
        )
    return y.astype("int64")


@keras_dfkd_export("keras_dfkd.callbacks.StudentEvaluation")
class StudentEvaluation(keras.callbacks.Callback):
    """Records the student's accuracy on real data every few epochs.

    For reporting only: it never changes training and never selects a
    student. The value goes into the epoch logs as `student_accuracy`
    (so `History`, `CSVLogger` and `TensorBoard` see it) and into
    `self.records` with the wall time and round count.

    The data is checked when the callback is made (images `(N, H, W, C)`,
    as many labels as images; one-hot labels are turned into class
    indices; a `tf.data.Dataset` of `(images, labels)` batches is read
    into arrays) and when training begins: the images must have the
    student's input shape and lie in the teacher's input range
    (`distiller.input_range`): uint8 pixels for a teacher trained on
    [0, 1] images are refused with the conversion to apply.

    Args:
        x: real images in the teacher's input domain (what you would pass
            to `teacher.predict`), or a `tf.data.Dataset` of `(images,
            labels)` batches (then `y` is `None`).
        y: labels: class indices `(N,)` or one-hot `(N, K)`.
        every_n_epochs: int. Defaults to `1`.
        batch_size: int. Defaults to `500`.

    Example:

    ```python
    evaluation = keras_dfkd.callbacks.StudentEvaluation(x_test, y_test)
    distiller.fit(steps=1000, steps_per_epoch=100, callbacks=[evaluation])
    print(evaluation.records[-1])
    ```
    """

    def __init__(self, x, y=None, every_n_epochs=1, batch_size=500):
        super().__init__()
        x, y = _arrays(x, y)
        if x.ndim != 4:
            raise ValueError(
                "`x` must be a batch of images (N, H, W, C); received shape "
                f"{x.shape}."
            )
        y = _class_indices(y)
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(
                "`x` and `y` must be non-empty and of equal length; received "
                f"{len(x)} and {len(y)}."
            )
        for name, value in (
            ("every_n_epochs", every_n_epochs),
            ("batch_size", batch_size),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive int; received {value!r}."
                )
        self.source_dtype = str(x.dtype)
        self.x = np.asarray(x, "float32")
        self.y = y
        self.every_n_epochs = every_n_epochs
        self.batch_size = batch_size
        self.records = []

    def on_train_begin(self, logs=None):
        self._check_against(self.model)
        self._start = time.perf_counter()

    def _check_against(self, distiller):
        """The images fit the student and the teacher's input range."""
        shape = tuple(distiller.student.inputs[0].shape[1:])
        if tuple(self.x.shape[1:]) != shape:
            raise ValueError(
                f"StudentEvaluation got images of shape {self.x.shape[1:]}, "
                f"but the student takes {shape}."
            )
        input_range = distiller.input_range
        low, high = float(self.x.min()), float(self.x.max())
        if input_range.is_standardized:
            # Standardised images have negative values (mean 0).
            wrong = high > 20.0 or low >= 0.0
            expected = "standardised images (mean 0, std 1 per channel)"
        else:
            lowest, highest = input_range.bounds(shape[-1])
            margin = 0.05 * float(np.max(highest - lowest))
            wrong = (
                low < float(np.min(lowest)) - margin
                or high > float(np.max(highest)) + margin
            )
            expected = f"values in {input_range}"
        if wrong:
            raise ValueError(
                f"StudentEvaluation's images ({self.source_dtype}) range "
                f"over [{low:.3g}, {high:.3g}], but the teacher takes "
                f"{expected}. Pass the test images preprocessed as for "
                "the teacher: e.g. for pixels p in [0, 255], "
                "distiller.input_range.from_pixels(p / 255)."
            )

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
