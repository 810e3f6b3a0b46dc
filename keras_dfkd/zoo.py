"""A zoo of varied teacher/student pairs, with a cached teacher recipe.

The library must distil teachers it has never seen, not only its LeNet
recipes. Each `ZooPair` names a teacher architecture, a smaller student,
the dataset, and the input domain the teacher was trained in: how raw
uint8 pixels become teacher inputs (`domain`), and what a user passes
to `DataFreeDistiller(..., input_range=...)` to say it (`input_range`,
`None` where the teacher says it itself).

Every teacher is trained on the real training split by one recipe:
Adam starting at 1e-3 with a cosine decay to 0 over the training, batch
128, sparse cross entropy from logits, `pair.epochs` epochs, seeded with
`keras.utils.set_random_seed(seed)`. Trained
teachers are cached as `.keras` files beside a `.json` with their test
accuracy and training time. The cache key holds the pair name, the
recipe version, the epochs, the seed and the Keras backend, not the
architecture: rename a pair (or clear the cache) after changing its
teacher.

The decay matters for batch normalization: with a constant 1e-3 the
weights still move fast in the last steps, the moving statistics lag
behind them (even with `momentum=0.9`), and the MobileNet-like teacher
scored 82-86 % in inference mode, 89 % once its statistics were
recomputed for its final weights.

Example:

```python
from keras_dfkd import zoo

pair = zoo.get_pair("vgg_standardized")
teacher, accuracy, path = zoo.load_or_train_teacher(pair)
student = zoo.build_student(pair, seed=0)
x_test, y_test = zoo.load_data(pair, "test")
```
"""

import collections
import functools
import json
import os
import time

import keras
import numpy as np

from keras_dfkd import datasets
from keras_dfkd import models

ZooPair = collections.namedtuple(
    "ZooPair",
    [
        "name",
        "dataset",
        "teacher",
        "student",
        "domain",
        "input_range",
        "epochs",
        "description",
    ],
)
ZooPair.__doc__ = """A teacher/student pair of the zoo.

Fields:
    name: str. The key of the pair in `PAIRS`.
    dataset: str. A `keras_dfkd.datasets` name.
    teacher: callable `(num_classes, input_shape) -> keras.Model` building
        a fresh, untrained teacher.
    student: callable `(num_classes, input_shape) -> keras.Model` building
        a fresh student that takes the teacher's inputs.
    domain: str. How raw uint8 pixels become teacher inputs, a key of
        `DOMAINS` (see `preprocess`).
    input_range: what to pass as `DataFreeDistiller(input_range=...)`:
        `(low, high)`, `((mean, ...), (std, ...))` for per-channel
        standardisation of `[0, 1]` pixels, or `None` when the teacher
        says it itself (a `Rescaling` first layer, or a keras-hub image
        converter).
    epochs: int. Training epochs of the teacher recipe.
    description: str. One line about the pair.
"""

#: How raw uint8 pixels `x` become teacher inputs, by `ZooPair.domain`.
DOMAINS = {
    "zero_one": "x / 255, in [0, 1]",
    "minus_one_one": "x / 127.5 - 1, in [-1, 1]",
    "standardized": "(x / 255 - mean) / std, the dataset's per-channel "
    "constants",
    "raw_pixels": "x as float32, in [0, 255] (the model rescales itself)",
}

DEFAULT_CACHE_DIR = os.path.join("~", ".keras", "keras_dfkd", "zoo")
CACHE_DIR_ENV = "KERAS_DFKD_ZOO_CACHE"

BATCH_SIZE = 128
LEARNING_RATE = 1e-3
#: Part of the cache key: bump it when the training recipe changes.
RECIPE_VERSION = 2

_FASHION_MNIST = datasets.get_info("fashion_mnist")
_PIXEL_SCALE = 1.0 / 255.0

_MOBILENET_STUDENT = dict(
    stem_filters=8, block_filters=(16, 32, 64), block_strides=(2, 2, 1)
)


def _nested_residual_teacher(num_classes, input_shape):
    """A residual feature extractor nested in a transfer-learning head."""
    base = models.residual_cnn(
        input_shape=input_shape,
        width=24,
        blocks_per_stage=(1, 1),
        stem_strides=2,
        include_head=False,
        name="feature_extractor",
    )
    return models.nested_classifier(
        base, num_classes=num_classes, name="nested_residual"
    )


def _pairs():
    partial = functools.partial
    pairs = [
        ZooPair(
            name="plain_cnn_zero_one",
            dataset="fashion_mnist",
            teacher=partial(
                models.plain_cnn,
                width=32,
                name="plain_cnn",
            ),
            student=partial(
                models.plain_cnn,
                width=8,
                dense_units=64,
                name="plain_cnn_student",
            ),
            domain="zero_one",
            input_range=(0.0, 1.0),
            epochs=3,
            description="plain CNN with BN at native 28x28 on [0, 1] "
            "images; student: a narrow 2-conv CNN with BN",
        ),
        ZooPair(
            name="residual_minus_one_one",
            dataset="fashion_mnist",
            teacher=partial(
                models.residual_cnn,
                width=24,
                stem_strides=2,
                name="residual_cnn",
            ),
            student=partial(
                models.residual_cnn,
                width=8,
                stem_strides=2,
                name="residual_cnn_student",
            ),
            domain="minus_one_one",
            input_range=(-1.0, 1.0),
            epochs=3,
            description="residual CNN with global average pooling on "
            "[-1, 1] images; student: the same net, a third as wide",
        ),
        ZooPair(
            name="vgg_standardized",
            dataset="fashion_mnist",
            teacher=partial(
                models.vgg_small, stage_filters=(16, 32), name="vgg_small"
            ),
            student=partial(
                models.plain_cnn,
                width=8,
                num_blocks=3,
                dense_units=64,
                batch_norm=False,
                name="plain_cnn_no_bn_student",
            ),
            domain="standardized",
            input_range=(_FASHION_MNIST.mean, _FASHION_MNIST.std),
            epochs=3,
            description="VGG-style 3x3 conv stacks with BN on per-channel "
            "standardised images; student: a 3-conv CNN without BN",
        ),
        ZooPair(
            name="mobilenet_raw_pixels",
            dataset="fashion_mnist",
            teacher=partial(
                models.mobilenet_small,
                block_filters=(32, 64, 128, 128),
                block_strides=(2, 1, 2, 1),
                input_rescaling=_PIXEL_SCALE,
                name="mobilenet_small",
            ),
            student=partial(
                models.mobilenet_small,
                input_rescaling=_PIXEL_SCALE,
                name="mobilenet_small_student",
                **_MOBILENET_STUDENT,
            ),
            domain="raw_pixels",
            input_range=None,
            epochs=4,
            description="MobileNet-like depthwise-separable net whose "
            "first layer is Rescaling(1/255), so it takes raw [0, 255] "
            "pixels; student: a narrow MobileNet-like net, also rescaling",
        ),
        ZooPair(
            name="nested_residual_zero_one",
            dataset="fashion_mnist",
            teacher=_nested_residual_teacher,
            student=partial(
                models.mobilenet_small,
                name="mobilenet_small_student",
                **_MOBILENET_STUDENT,
            ),
            domain="zero_one",
            input_range=(0.0, 1.0),
            epochs=4,
            description="transfer-learning shape: a Functional residual "
            "feature extractor (holding the BN layers) called as one layer, "
            "then pooling, dropout and a dense head, on [0, 1] images; "
            "student: a narrow MobileNet-like net",
        ),
        ZooPair(
            name="hub_resnet_standardized",
            dataset="fashion_mnist",
            teacher=partial(
                models.hub_resnet_classifier,
                pixel_mean=_FASHION_MNIST.mean,
                pixel_std=_FASHION_MNIST.std,
                name="hub_resnet",
            ),
            student=partial(
                models.plain_cnn,
                width=16,
                dense_units=64,
                batch_norm=False,
                name="plain_cnn_no_bn_student",
            ),
            domain="standardized",
            input_range=None,
            epochs=3,
            description="keras-hub ResNetImageClassifier built from a "
            "small config; its ResNetImageConverter standardises raw "
            "pixels, the model takes the converter's output; student: a "
            "2-conv CNN without BN",
        ),
    ]
    return {pair.name: pair for pair in pairs}


#: The zoo: pair name -> `ZooPair`.
PAIRS = _pairs()


def get_pair(name):
    """Returns the `ZooPair` named `name` (a `ZooPair` is returned as is).

    Raises:
        ValueError: if `name` is not a key of `PAIRS`.
    """
    if isinstance(name, ZooPair):
        return name
    try:
        return PAIRS[name]
    except KeyError:
        raise ValueError(
            f"Unknown zoo pair {name!r}; available: {sorted(PAIRS)}."
        ) from None


def preprocess(images, domain, dataset="fashion_mnist"):
    """Maps raw pixels to a teacher's input domain.

    Args:
        images: array-like of pixel values in `[0, 255]` (e.g. uint8 from
            `keras_dfkd.datasets.load`), channels last.
        domain: str. A key of `DOMAINS`.
        dataset: str. The dataset whose per-channel constants the
            `"standardized"` domain uses. Defaults to `"fashion_mnist"`.

    Returns:
        A float32 numpy array of the shape of `images`.

    Raises:
        ValueError: if `domain` is unknown.
    """
    x = np.asarray(images).astype("float32")
    if domain == "zero_one":
        return x * np.float32(_PIXEL_SCALE)
    if domain == "minus_one_one":
        return x * np.float32(1.0 / 127.5) - np.float32(1.0)
    if domain == "standardized":
        return datasets.normalize(x, dataset)
    if domain == "raw_pixels":
        return x
    raise ValueError(
        f"Unknown domain {domain!r}; available: {sorted(DOMAINS)}."
    )


def build_teacher(pair):
    """Builds a fresh, untrained teacher of `pair` (a name or `ZooPair`)."""
    pair = get_pair(pair)
    info = datasets.get_info(pair.dataset)
    return pair.teacher(
        num_classes=info.num_classes, input_shape=info.image_shape
    )


def build_student(pair, seed=0):
    """Builds the student of `pair` after seeding Keras with `seed`."""
    pair = get_pair(pair)
    info = datasets.get_info(pair.dataset)
    keras.utils.set_random_seed(seed)
    return pair.student(
        num_classes=info.num_classes, input_shape=info.image_shape
    )


def load_data(pair, split):
    """A real split in the teacher's input domain.

    Returns:
        `(x, y)`: float32 images preprocessed with `preprocess` and int64
        labels.
    """
    pair = get_pair(pair)
    x, y = datasets.load(pair.dataset, split=split)
    return preprocess(x, pair.domain, pair.dataset), np.asarray(y, "int64")


def _plain_view(model):
    """A Functional model sharing `model`'s layers and weights.

    keras-hub tasks run their preprocessor inside `fit()` and `predict()`
    and never shuffle numpy inputs; the view takes already preprocessed
    images and trains like any Functional model. Training the view trains
    `model`.
    """
    return keras.Model(model.inputs, model.outputs, name=model.name + "_view")


def accuracy(model, x, y, batch_size=500):
    """Top-1 accuracy of `model` on `(x, y)` in inference mode."""
    logits = _plain_view(model).predict(x, batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def train_teacher(pair, seed=0, verbose=2):
    """Trains the teacher of `pair` on the real training split.

    Returns:
        `(model, test_accuracy, timing)`. `timing` is a dict with the
        wall-clock `train_seconds` and the process CPU time
        `train_cpu_seconds` (all threads) of building and fitting, not
        of loading data or testing; the CPU time tells a slow run on a
        busy machine from a slow recipe.
    """
    pair = get_pair(pair)
    x_train, y_train = load_data(pair, "train")
    x_test, y_test = load_data(pair, "test")
    start, cpu_start = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(seed)
    model = build_teacher(pair)
    trainer = _plain_view(model)
    steps_per_epoch = -(-len(x_train) // BATCH_SIZE)
    learning_rate = keras.optimizers.schedules.CosineDecay(
        LEARNING_RATE, decay_steps=pair.epochs * steps_per_epoch
    )
    trainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    trainer.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=pair.epochs,
        verbose=verbose,
    )
    timing = {
        "train_seconds": time.perf_counter() - start,
        "train_cpu_seconds": time.process_time() - cpu_start,
    }
    return model, accuracy(model, x_test, y_test), timing


def cache_dir_path(cache_dir=None):
    """The teacher cache folder: `cache_dir`, `$KERAS_DFKD_ZOO_CACHE` or
    `~/.keras/keras_dfkd/zoo`."""
    path = cache_dir or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
    return os.path.expanduser(path)


def teacher_path(pair, cache_dir=None, seed=0):
    """Where the cached teacher of `pair` is (or will be) saved.

    The file name holds the pair name, `RECIPE_VERSION`, the epochs, the
    seed and the Keras backend, so a changed recipe or another backend
    trains a new teacher.
    """
    pair = get_pair(pair)
    key = (
        f"{pair.name}_r{RECIPE_VERSION}_e{pair.epochs}_s{seed}_"
        f"{keras.config.backend()}"
    )
    return os.path.join(cache_dir_path(cache_dir), f"teacher_{key}.keras")


def load_or_train_teacher(pair, cache_dir=None, seed=0, verbose=2):
    """Loads the cached teacher of `pair`, or trains and caches it.

    Args:
        pair: str or `ZooPair`.
        cache_dir: str or `None`. The cache folder (see `cache_dir_path`).
        seed: int. The training seed. Defaults to `0`.
        verbose: int. `fit()` verbosity when training. Defaults to `2`.

    Returns:
        `(model, test_accuracy, path)`. The `.json` beside `path` also
        records the training time (`train_seconds`, `train_cpu_seconds`)
        and the parameter counts.
    """
    pair = get_pair(pair)
    path = teacher_path(pair, cache_dir, seed)
    meta_path = path + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        model = keras.saving.load_model(path, compile=False)
        return model, meta["test_accuracy"], path
    model, test_accuracy, timing = train_teacher(pair, seed, verbose)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.save(path)
    meta = {
        "pair": pair.name,
        "test_accuracy": test_accuracy,
        **timing,
        "recipe_version": RECIPE_VERSION,
        "epochs": pair.epochs,
        "seed": seed,
        "batch_size": BATCH_SIZE,
        "backend": keras.config.backend(),
        "keras_version": keras.__version__,
        "teacher_params": model.count_params(),
        "student_params": build_student(pair, seed).count_params(),
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    return model, test_accuracy, path
