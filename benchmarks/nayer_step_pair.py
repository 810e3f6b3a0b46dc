"""The NAYER pairs `step_time.py` and `memory_probe.py` measure.

Random weights and random 10 x 512 label embeddings: only speed and
memory are measured, not accuracy.
"""

import numpy as np

import keras_dfkd
from keras_dfkd.backend import keras_shims

PRESETS = {
    "nayer_mnist_step": dict(
        teacher="lenet5",
        student="lenet5_half_no_bn",
        image_shape=(32, 32, 1),
        batch_size=200,
        student_batch_size=256,
        generator_width=64,
        noise_dim=1000,
        synthesis_extra=2,
        kd_extra=100,
    ),
    **{
        f"nayer_cifar_step_{batch_size}": dict(
            teacher="resnet34",
            student="resnet18",
            image_shape=(32, 32, 3),
            batch_size=batch_size,
            student_batch_size=student_batch_size,
            generator_width=64,
            noise_dim=1000,
            synthesis_extra=1,
            kd_extra=kd_extra,
        )
        for batch_size, student_batch_size, kd_extra in (
            (100, 256, 3),
            (400, 512, 2),
        )
    },
}


def build_distiller(config, generator_steps, kd_steps, batch_size=None):
    """A compiled NAYER distiller of the pair `config` (a `PRESETS` entry).

    Args:
        config: dict, one of `PRESETS`' values.
        generator_steps, kd_steps: int, steps per round of each phase.
        batch_size: int or `None`, the synthesis batch instead of the
            preset's.
    """
    keras_shims.set_random_seed(0)  # On JAX, without loading TensorFlow.
    shape = config["image_shape"]
    teacher = keras_dfkd.models.get(config["teacher"], 10, shape)
    student = keras_dfkd.models.get(config["student"], 10, shape)
    embeddings = np.random.default_rng(0).normal(size=(10, 512))
    method = keras_dfkd.methods.NAYER(
        label_embeddings=embeddings.astype("float32"),
        batch_size=batch_size or config["batch_size"],
        generator_steps=generator_steps,
        student_steps=kd_steps,
        student_batch_size=config["student_batch_size"],
        warmup_rounds=0,
        generator_life=None,
        noise_dim=config["noise_dim"],
        generator_width=config["generator_width"],
        temperature=20.0,
        decay_rounds=None,
        seed=0,
    )
    channels = shape[-1]
    distiller = keras_dfkd.DataFreeDistiller(
        teacher,
        student,
        method,
        input_range=((0.5,) * channels, (0.5,) * channels),
    )
    distiller.compile()
    return distiller
