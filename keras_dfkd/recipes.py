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

from keras_dfkd import datasets
from keras_dfkd import models

ARCHITECTURES = {
    "lenet5": models.lenet5,
    "lenet5_half": models.lenet5_half,
    "resnet18": models.resnet18,
    "resnet34": models.resnet34,
    "wrn_40_2": models.wrn_40_2,
    "wrn_16_2": models.wrn_16_2,
    "vgg11_bn": models.vgg11_bn,
}


def build_model(architecture, num_classes, input_shape):
    """Builds a reference architecture by name (see `ARCHITECTURES`)."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"Unknown architecture {architecture!r}; available: "
            f"{sorted(ARCHITECTURES)}."
        ) from None
    return builder(num_classes=num_classes, input_shape=input_shape)


def load_data(dataset, split, image_size=32):
    """Returns normalised float32 images and int labels of a real split."""
    x, y = datasets.load(dataset, split=split, image_size=image_size)
    return datasets.normalize(x, dataset), np.asarray(y, "int64")


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
    model = build_model(architecture, info.num_classes, x_train.shape[1:])
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
