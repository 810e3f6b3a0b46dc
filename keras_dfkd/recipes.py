"""Teacher recipes: train, cache and reload the project's teachers.

The recipe follows DAFL's MNIST teacher: Adam(1e-3), batch 256, cross
entropy on normalised images, 10 epochs by default. The examples, the
benchmarks and the end-to-end tests all train their teachers here, so a
reported teacher is always one this project trained on real data.
"""

import json
import os
import time

import keras
import numpy as np

from keras_dfkd import callbacks
from keras_dfkd import datasets
from keras_dfkd import models


def dataset_method_arguments(method, dataset):
    """Method arguments that come from the dataset's description.

    NAYER embeds the class names and flips its images only where
    mirroring keeps the class (not for digits); the other methods need
    nothing.
    """
    if method != "nayer":
        return {}
    info = datasets.get_info(dataset)
    return {
        "class_names": info.class_names,
        "augmentation": "auto" if info.flip_invariant else "crop",
    }


def recipe_input_range(dataset):
    """The input domain of the recipe teachers: `(mean, std)` per channel.

    `train_teacher` standardises pixels in [0, 1] with the dataset's
    per-channel mean and std (`load_data`); pass this as
    `DataFreeDistiller(..., input_range=...)` to declare it exactly.
    """
    info = datasets.get_info(dataset)
    return (tuple(info.mean), tuple(info.std))


def load_data(dataset, split, image_size=32):
    """Returns normalised float32 images and int labels of a real split."""
    x, y = datasets.load(dataset, split=split, image_size=image_size)
    return datasets.normalize(x, dataset), np.asarray(y, "int64")


def load_data_in_range(dataset, split, input_range, image_size=32):
    """A real split with images in `input_range` (a `keras_dfkd.InputRange`).

    Known ranges map pixels in [0, 1] into the domain; the standardized
    range uses the dataset's own per-channel statistics (`load_data`).
    """
    if input_range.is_standardized:
        return load_data(dataset, split, image_size)
    x, y = datasets.load(dataset, split=split, image_size=image_size)
    pixels = np.asarray(x, "float32") / 255.0
    images = keras.ops.convert_to_numpy(input_range.from_pixels(pixels))
    return np.asarray(images, "float32"), np.asarray(y, "int64")


def accuracy(model, x, y, batch_size=500):
    """Top-1 accuracy of `model` on `(x, y)` in inference mode."""
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def train_teacher(
    dataset="mnist",
    architecture="lenet5",
    epochs=10,
    batch_size=256,
    learning_rate=1e-3,
    image_size=32,
    seed=0,
    verbose=2,
):
    """Trains a teacher on the real training split.

    Returns:
        `(model, test_accuracy)`.
    """
    keras.utils.set_random_seed(seed)
    x_train, y_train = load_data(dataset, "train", image_size)
    x_test, y_test = load_data(dataset, "test", image_size)
    info = datasets.get_info(dataset)
    model = models.get(architecture, info.num_classes, x_train.shape[1:])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        verbose=verbose,
    )
    return model, accuracy(model, x_test, y_test)


def load_or_train_teacher(
    cache_dir,
    dataset="mnist",
    architecture="lenet5",
    epochs=10,
    seed=0,
    image_size=32,
    verbose=2,
):
    """Loads a cached teacher or trains and caches one.

    The cache key holds every recipe argument and the Keras backend, so a
    changed recipe trains a new teacher.

    Returns:
        `(model, test_accuracy, path)`.
    """
    key = (
        f"{dataset}_{architecture}_e{epochs}_s{seed}_px{image_size}_"
        f"{keras.config.backend()}"
    )
    path = os.path.join(cache_dir, f"teacher_{key}.keras")
    meta_path = path + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        return keras.saving.load_model(path), meta["test_accuracy"], path
    start = time.perf_counter()
    model, test_accuracy = train_teacher(
        dataset,
        architecture,
        epochs=epochs,
        seed=seed,
        image_size=image_size,
        verbose=verbose,
    )
    os.makedirs(cache_dir, exist_ok=True)
    model.save(path)
    with open(meta_path, "w") as f:
        json.dump(
            {
                "test_accuracy": test_accuracy,
                "train_seconds": time.perf_counter() - start,
            },
            f,
        )
    return model, test_accuracy, path


def prepare_pair(
    dataset,
    teacher,
    student,
    cache_dir,
    teacher_epochs=10,
    seed=0,
    teacher_seed=None,
):
    """The teacher (trained or cached), its real test split and a student.

    `teacher_seed` (default: `seed`) seeds the teacher's recipe, so runs of
    several seeds can share one teacher.

    Returns:
        A dict with `teacher`, `teacher_accuracy`, `student`, `x_test`
        and `y_test`. The student is built after seeding Keras with
        `seed`, so the same arguments give the same initial student.
    """
    teacher_model, teacher_accuracy, _ = load_or_train_teacher(
        cache_dir,
        dataset,
        teacher,
        epochs=teacher_epochs,
        seed=seed if teacher_seed is None else teacher_seed,
    )
    x_test, y_test = load_data(dataset, "test")
    keras.utils.set_random_seed(seed)
    student_model = models.get(
        student, datasets.get_info(dataset).num_classes, x_test.shape[1:]
    )
    return {
        "teacher": teacher_model,
        "teacher_accuracy": teacher_accuracy,
        "student": student_model,
        "x_test": x_test,
        "y_test": y_test,
    }


#: Where `load_or_train_teacher` keeps the teachers the examples train.
DEFAULT_CACHE_DIR = os.path.expanduser("~/.keras/keras_dfkd/teachers")


def define_pair_flags():
    """Defines the absl flags of a teacher/student pair from the recipes.

    `--dataset`, `--teacher`, `--student`, `--teacher_epochs`, `--seed`,
    `--teacher_seed` and `--cache_dir`, shared by the examples and the
    benchmarks; read them back with `pair_from_flags()`.
    """
    from absl import flags  # Only the examples and benchmarks need it.

    flags.DEFINE_string("dataset", "mnist", "mnist or fashion_mnist (offline).")
    flags.DEFINE_string("teacher", "lenet5", "Teacher architecture.")
    flags.DEFINE_string("student", "lenet5_half", "Student architecture.")
    flags.DEFINE_integer("teacher_epochs", 10, "Epochs of the teacher recipe.")
    flags.DEFINE_integer("seed", 0, "Seed of the teacher recipe and the run.")
    flags.DEFINE_integer(
        "teacher_seed", None, "Seed of the teacher recipe (default: --seed)."
    )
    flags.DEFINE_string(
        "cache_dir", DEFAULT_CACHE_DIR, "Where trained teachers are cached."
    )


def pair_from_flags():
    """`prepare_pair` with the flags of `define_pair_flags()`."""
    from absl import flags

    values = flags.FLAGS
    return prepare_pair(
        values.dataset,
        values.teacher,
        values.student,
        values.cache_dir,
        teacher_epochs=values.teacher_epochs,
        seed=values.seed,
        teacher_seed=values.teacher_seed,
    )


def run_callbacks(output_dir, x_test=None, y_test=None, num_images=64):
    """The examples' callbacks: evaluation, resume, CSV log, image grids.

    `StudentEvaluation` (reporting only) comes first when test data is
    given; `BackupAndRestore` in `output_dir/backup` resumes an
    interrupted run when the same command is run again.
    """
    os.makedirs(output_dir, exist_ok=True)
    chosen = [
        callbacks.BackupAndRestore(os.path.join(output_dir, "backup")),
        keras.callbacks.CSVLogger(
            os.path.join(output_dir, "log.csv"), append=True
        ),
        callbacks.ImageGrid(
            os.path.join(output_dir, "grids"), num_images=num_images
        ),
    ]
    if x_test is not None:
        chosen.insert(0, callbacks.StudentEvaluation(x_test, y_test))
    return chosen
