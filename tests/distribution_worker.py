"""Data-parallel checks on 4 host devices, for `test_distribution.py`.

    python tests/distribution_worker.py

Device counts are fixed when JAX or TensorFlow initialises, so this
process splits the host CPU into 4 devices first (`XLA_FLAGS` on JAX, set
by the caller; logical devices on TensorFlow), runs every check and prints
one line `REPORT {json}`.
"""

import json
import os

BACKEND = os.environ["KERAS_BACKEND"]
if BACKEND == "jax":
    import jax
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 4
    )
# Keras and keras_dfkd come after the device split, which must precede
# TensorFlow's initialisation.
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_dfkd  # noqa: E402
from keras_dfkd import backend  # noqa: E402

SEED, BATCH, LATENT = 11, 32, 256


def strategy(n):
    # One process runs several strategies; all-reduces through one device
    # avoid the collective group keys of several strategies colliding.
    return tf.distribute.MirroredStrategy(
        [f"/cpu:{i}" for i in range(n)],
        cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )


def in_devices(n, fn):
    # Creates (and runs) the Keras objects of `fn` on `n` devices.
    if BACKEND == "jax":
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=jax.devices()[:n])
            if n > 1
            else None
        )
        try:
            return fn()
        finally:
            keras.distribution.set_distribution(None)
    if n == 1:
        return fn()
    with strategy(n).scope():
        return fn()


def distiller(method_cls=keras_dfkd.methods.BNStatistics, **kw):
    keras.utils.set_random_seed(7)
    teacher = keras_dfkd.models.lenet5()
    student = keras_dfkd.models.lenet5_half()
    if method_cls is keras_dfkd.methods.BNStatistics:
        kw.update(generator_width=8, student_steps=2)
    method = method_cls(batch_size=BATCH, seed=SEED, **kw)
    result = keras_dfkd.DataFreeDistiller(teacher, student, method)
    result.compile()
    return result


def losses(n, fits=(3,), **config):
    # Logged losses of every round over the fits of `fits` rounds each.
    def run():
        d = distiller(**config)
        logs = {}
        for steps in fits:
            history = d.fit(steps=steps, steps_per_epoch=1, verbose=0)
            for k, vs in history.history.items():
                logs.setdefault(k, []).extend(float(v) for v in vs)
        return logs

    return in_devices(n, run)


LARGE_SCALE = dict(
    method_cls=keras_dfkd.methods.LargeScale,
    ensemble_size=2,
    generator_rounds=2,
    generator_width=8,
    student_steps=2,
)


def error(fn):
    try:
        fn()
    except ValueError as e:
        return str(e)
    return None


def main():
    """Runs every check and prints `REPORT {json}`."""
    report = {"losses": {}}
    configs = {"default": {}}
    # Two stage-1 rounds, then a stage-2 round: a fit per stage, which
    # several TensorFlow replicas need (the stage is fixed at trace time).
    configs["large_scale"] = dict(LARGE_SCALE, fits=(2, 1))
    # BNStatistics runs on 1, 2 and 4 devices, LargeScale on 1 and 4 (the
    # suite's time budget).
    for name, config in configs.items():
        counts = (1, 2, 4) if name == "default" else (1, 4)
        report["losses"][name] = {n: losses(n, **config) for n in counts}

    reference = keras.ops.convert_to_numpy(
        keras.random.normal(
            (BATCH, LATENT), seed=keras.random.SeedGenerator(SEED)
        )
    )
    if BACKEND == "jax":

        def draw():
            d = distiller()
            state = d.method.seed_generator.state

            def fn(value):
                with keras.StatelessScope(state_mapping=[(state, value)]):
                    return d.method.sample_noise()

            noise = jax.jit(fn)(state.value)
            report["noise_spec"] = str(noise.sharding.spec)
            shards = noise.addressable_shards
            shards = sorted(shards, key=lambda s: s.index[0].start)
            return [np.asarray(s.data) for s in shards]

        noise = in_devices(4, draw)

        def uneven():
            x = np.zeros((6, 2), "float32")
            # Outside the step (e.g. an image grid) a batch is left whole.
            report["uneven_outside_step"] = backend.distribute_batch(x) is x
            return error(lambda: jax.jit(backend.distribute_batch)(x))

        report["uneven_batch"] = in_devices(4, uneven)
    else:
        two = strategy(2)
        with two.scope():
            d = distiller()

        @tf.function
        def draw():
            return two.run(d.method.sample_noise)

        noise = [t.numpy() for t in two.experimental_local_results(draw())]

        @tf.function
        def uneven():
            return two.run(lambda: backend.distribute_batch(tf.zeros((3, 2))))

        report["uneven_batch"] = error(uneven)
        with two.scope():
            x = tf.zeros((3, 2))
            report["uneven_outside_step"] = backend.distribute_batch(x) is x
    report["noise_shards"] = [n.shape[0] for n in noise]
    report["noise_shards_differ"] = not np.allclose(noise[0], noise[1])
    report["noise_is_reference"] = bool(
        np.allclose(np.concatenate(noise), reference, atol=1e-6)
    )
    report["dafl_error"] = in_devices(
        2, lambda: error(lambda: distiller(keras_dfkd.methods.DAFL))
    )
    report["dfad_replay_error"] = in_devices(
        2,
        lambda: error(lambda: distiller(keras_dfkd.methods.DFAD, replay="vae")),
    )
    report["large_scale_cross_error"] = in_devices(
        2,
        lambda: error(lambda: distiller(**LARGE_SCALE).fit(steps=3, verbose=0)),
    )
    print("REPORT " + json.dumps(report))


if __name__ == "__main__":
    main()
