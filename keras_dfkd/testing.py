"""Test toolkit: small networks, tiny configurations of every method.

The tests, `scripts/round_fingerprints.py` and the checkpoint worker all
build their distillers here, so that no test module imports another and
a new method is added to one registry (`TINY_METHODS`).
"""

import keras
import numpy as np

from keras_dfkd import backend
from keras_dfkd.distiller import DataFreeDistiller
from keras_dfkd.layers.differentiable_augmentation import (
    DifferentiableAugmentation,
)
from keras_dfkd.methods import CMI
from keras_dfkd.methods import DAFL
from keras_dfkd.methods import DFAD
from keras_dfkd.methods import NAYER
from keras_dfkd.methods import BNStatistics
from keras_dfkd.methods import DeepInversion
from keras_dfkd.methods import Fast
from keras_dfkd.methods import LargeScale
from keras_dfkd.methods import PreDFKD

#: The image shape of `small_net`.
IMAGE_SHAPE = (16, 16, 1)

#: The teacher domain the tiny distillers declare (`None`: the default).
STANDARDIZED_HALF = ((0.5,), (0.25,))


def to_numpy(x):
    """A numpy copy of a tensor or variable."""
    return np.array(keras.ops.convert_to_numpy(x))


def gradient(fn, x):
    """`d fn(x) / dx` as numpy, for a scalar-valued `fn` (either backend)."""
    x = np.asarray(x, np.float32)
    return to_numpy(backend.input_gradient(fn, x)[1])


def small_net(width, name, batch_norm=True, classes=10, pool_each_block=False):
    """A 2-conv classifier of `IMAGE_SHAPE` images (teacher or student).

    Args:
        width: int, filters of both convolutions.
        name: str, the model's name.
        batch_norm: bool, BatchNorm (momentum 0.9) after each convolution.
        classes: int, logits.
        pool_each_block: bool, max-pool after both blocks (else the first).
    """
    inputs = keras.Input(IMAGE_SHAPE)
    x = inputs
    for block in range(2):
        x = keras.layers.Conv2D(width, 3, padding="same")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        if block == 0 or pool_each_block:
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    outputs = keras.layers.Dense(classes)(x)
    return keras.Model(inputs, outputs, name=name)


def label_embeddings(seed=0, num_classes=10, dim=16):
    """Random label embeddings for NAYER (no text encoder needed)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(num_classes, dim)).astype("float32")


#: `{name: (method class, arguments, input_range)}`: each method at the
#: smallest size that exercises all its phases in a few rounds.
TINY_METHODS = {
    "dafl": (DAFL, dict(batch_size=16, generator_width=4, seed=3), None),
    "dfad": (
        DFAD,
        dict(batch_size=16, generator_width=4, student_steps=2, seed=3),
        None,
    ),
    "bn_statistics": (
        BNStatistics,
        dict(
            batch_size=16,
            generator_width=4,
            student_steps=2,
            batch_norm_momentum=0.9,
            augmentation=lambda: DifferentiableAugmentation(
                padding=2, flip=False
            ),
            seed=3,
        ),
        None,
    ),
    "bn_statistics_sigmoid_js": (
        BNStatistics,
        dict(
            batch_size=16,
            generator_width=4,
            student_steps=1,
            adversarial_loss="js",
            seed=3,
        ),
        STANDARDIZED_HALF,
    ),
    "large_scale": (
        LargeScale,
        dict(
            batch_size=16,
            ensemble_size=2,
            generator_rounds=5,
            joint=True,
            generator_width=4,
            latent_dim=8,
            student_steps=2,
            seed=3,
        ),
        None,
    ),
    "nayer": (
        NAYER,
        dict(
            label_embeddings=label_embeddings,
            batch_size=20,
            generator_steps=2,
            student_steps=2,
            student_batch_size=8,
            warmup_rounds=1,
            generator_life=2,
            noise_dim=64,
            generator_width=4,
            pool_capacity=50,
            seed=3,
        ),
        STANDARDIZED_HALF,
    ),
    "cmi": (
        CMI,
        dict(
            batch_size=10,
            generator_steps=2,
            latent_dim=8,
            generator_width=4,
            bank_size=25,
            negatives=16,
            head_dim=8,
            student_steps=2,
            student_batch_size=8,
            warmup_rounds=1,
            pool_capacity=30,
            seed=3,
        ),
        STANDARDIZED_HALF,
    ),
    "deep_inversion": (
        DeepInversion,
        dict(
            batch_size=10,
            generator_steps=2,
            adversarial_weight=1.0,
            total_variation_weight=1e-3,
            l2_weight=1e-4,
            flip=True,
            student_steps=2,
            student_batch_size=8,
            warmup_rounds=1,
            pool_capacity=30,
            seed=3,
        ),
        STANDARDIZED_HALF,
    ),
    "fast": (
        Fast,
        dict(
            batch_size=10,
            generator_steps=2,
            latent_dim=8,
            generator_width=4,
            warmup_rounds=1,
            projection_reset_round=2,
            student_steps=2,
            student_batch_size=8,
            pool_capacity=30,
            seed=3,
        ),
        STANDARDIZED_HALF,
    ),
    "pre_dfkd": (
        PreDFKD,
        dict(
            batch_size=16,
            memory_batch_size=4,
            latent_dim=16,
            generator_width=4,
            student_steps=2,
            replay_steps=1,
            vae_latent_dim=8,
            vae_width=4,
            seed=1,
        ),
        None,
    ),
}


def tiny_method(name, **overrides):
    """A new method of `TINY_METHODS[name]`, `overrides` on top.

    Callables in the registry (layers, arrays) are called afresh, so each
    method gets its own.
    """
    cls, arguments, _ = TINY_METHODS[name]
    arguments = {**arguments, **overrides}
    for key, value in arguments.items():
        if key not in overrides and callable(value):
            arguments[key] = value()
    return cls(**arguments)


def tiny_distiller(
    name,
    random_seed=0,
    teacher=None,
    student=None,
    input_range="registry",
    **overrides,
):
    """A distiller of `small_net(8)` into `small_net(4)` with a tiny method.

    Args:
        name: a key of `TINY_METHODS`.
        random_seed: int, `keras.utils.set_random_seed` before anything is
            built.
        teacher, student: models instead of the small nets, or functions
            that build them (called after seeding).
        input_range: the teacher's domain; `"registry"` (the default) uses
            the method's entry.
        **overrides: method arguments.
    """
    keras.utils.set_random_seed(random_seed)
    if input_range == "registry":
        input_range = TINY_METHODS[name][2]
    teacher = _built(teacher, lambda: small_net(8, "teacher"))
    student = _built(student, lambda: small_net(4, "student"))
    return DataFreeDistiller(
        teacher,
        student,
        tiny_method(name, **overrides),
        input_range=input_range,
    )


def _built(model, default):
    if model is None:
        return default()
    if isinstance(model, keras.Model):
        return model
    return model()


def distiller_state(distiller):
    """Every variable fit changes, optimizers and random states included.

    Keyed by position: auto-generated paths differ between instances.
    """
    variables = distiller.variables + distiller.optimizer.variables
    return {f"{i:04d}": to_numpy(v) for i, v in enumerate(variables)}


def assert_same_state(a, b):
    """Asserts two `distiller_state`s are bit-identical."""
    assert sorted(a) == sorted(b)
    different = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not different, different
