"""Fast: the meta generator, its Reptile step and the per-batch restart."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.testing import tiny_distiller
from keras_dfkd.testing import to_numpy


def _weights(layer):
    return [to_numpy(v) for v in layer.trainable_variables]


def test_reptile_moves_the_meta_generator_towards_the_fast_one():
    distiller = tiny_distiller("fast", projection_reset_round=None)
    distiller.compile()
    method = distiller.method
    before = _weights(method.meta_generator)
    distiller.fit(steps=1, verbose=0)
    after = _weights(method.meta_generator)
    fast = _weights(method.generator)
    meta = distiller.optimizers["meta"]
    rate = float(to_numpy(meta.learning_rate))
    assert rate == pytest.approx(3e-3 * 2)  # lr_g * generator_steps.
    moved = 0
    for b, a, f in zip(before, after, fast):
        # One Adam step from zeroed slots on the gradient 67 (G - G')
        # moves G by the rate towards G' wherever G' moved (by enough
        # that Adam's epsilon is negligible).
        clear = np.abs(f - b) > 1e-4
        np.testing.assert_allclose(
            (a - b)[clear], rate * np.sign(f - b)[clear], rtol=1e-3
        )
        moved += int(clear.sum())
    assert moved > 0


def test_each_batch_restarts_the_fast_generator_and_latents():
    distiller = tiny_distiller("fast", projection_reset_round=None)
    distiller.compile(
        generator_optimizer=keras.optimizers.Adam(0.0),
        optimizers={"latent": keras.optimizers.Adam(0.0)},
    )
    method = distiller.method
    latents, labels = [], []
    for _ in range(2):
        distiller.fit(steps=1, verbose=0)
        latents.append(to_numpy(method.latent))
        labels.append(to_numpy(method.labels))
        # Frozen inner steps: G' is the meta generator it was copied from
        # (which then took no step: G - G' = 0).
        for f, m in zip(
            _weights(method.generator), _weights(method.meta_generator)
        ):
            np.testing.assert_array_equal(f, m)
    assert not np.allclose(latents[0], latents[1])
    assert abs(latents[1].std() - 1.0) < 0.25
    for drawn in labels:
        assert drawn.min() >= 0 and drawn.max() < 10
    assert not np.array_equal(labels[0], labels[1])


def test_inner_optimizers_restart_and_the_meta_optimizer_does_not():
    distiller = tiny_distiller("fast", warmup_rounds=0)
    distiller.compile()
    history = distiller.fit(steps=3, verbose=0)
    optimizers = distiller.optimizers
    assert int(to_numpy(optimizers["generator"].iterations)) == 2
    assert int(to_numpy(optimizers["latent"].iterations)) == 2
    assert int(to_numpy(optimizers["meta"].iterations)) == 3
    assert int(to_numpy(optimizers["student"].iterations)) == 6
    assert history.history["pool_images"][-1] == 30


def test_projection_is_reset_once_at_its_round():
    distiller = tiny_distiller("fast", projection_reset_round=2)
    distiller.compile()
    project = distiller.method.meta_generator.project
    distiller.fit(steps=1, verbose=0)
    assert to_numpy(project.kernel).std() > 0.05  # Keras's initialiser.
    distiller.fit(steps=1, verbose=0)
    # N(0, 0.02) before round 2, then one meta step of at most ~6e-3.
    kernel = to_numpy(project.kernel)
    assert 0.015 < kernel.std() < 0.03
    assert np.abs(to_numpy(project.bias)).max() < 0.01


def test_config_round_trip_and_bad_arguments():
    method = keras_dfkd.methods.get("fast", generator_steps=2)
    config = method.get_config()
    assert config["generator_steps"] == 2
    assert keras_dfkd.methods.Fast(**config).get_config() == config
    with pytest.raises(ValueError, match="latent_learning_rate"):
        keras_dfkd.methods.Fast(latent_learning_rate=0.0)
    with pytest.raises(ValueError, match="projection_reset_round"):
        keras_dfkd.methods.Fast(projection_reset_round=0)
