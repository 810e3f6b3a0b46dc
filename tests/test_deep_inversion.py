"""DeepInversion: optimised image batches, their priors and the pool."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd import objectives
from keras_dfkd.generators import ImageBatch
from keras_dfkd.losses.jensen_shannon_divergence import clamped_reverse_js
from keras_dfkd.testing import small_net
from keras_dfkd.testing import tiny_distiller
from keras_dfkd.testing import to_numpy


def test_image_batch_draws_normal_values_and_projects_onto_valid_pixels():
    # Teacher inputs x = (u - 0.5) / 0.25 for pixels u in [0, 1].
    images = ImageBatch((6, 6, 1), batch_size=50, input_range=((0.5,), (0.25,)))
    images.build()
    images.reinitialize(keras.random.SeedGenerator(0))
    z = to_numpy(images.values)
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1.0) < 0.1
    assert z.min() < -2.0 and z.max() > 2.0  # Beyond the valid [-2, 2].
    pixels = to_numpy(images.pixels())
    expected = (np.clip(z, -2.0, 2.0) - (-2.0)) / 4.0
    np.testing.assert_allclose(pixels, expected, rtol=1e-6, atol=1e-7)
    assert pixels.min() == 0.0 and pixels.max() == 1.0
    # The variable itself is projected, as the code clips after a step.
    np.testing.assert_allclose(to_numpy(images.values), np.clip(z, -2, 2))


def test_image_batch_maps_per_channel_ranges():
    mean, std = (0.2, 0.4, 0.6), (0.1, 0.2, 0.3)
    images = ImageBatch((2, 2, 3), batch_size=1, input_range=(mean, std))
    images.build()
    z = np.zeros((1, 2, 2, 3), "float32")
    z[..., 0] = 1.0  # One standard deviation above the mean.
    images.values.assign(z)
    np.testing.assert_allclose(
        to_numpy(images.pixels())[0, 0, 0], (0.3, 0.4, 0.6), rtol=1e-6
    )
    # The per-batch standardised domain: pixels (z + 2) / 4.
    standardized = ImageBatch((2, 2, 1), batch_size=1)
    standardized.build()
    standardized.values.assign(np.full((1, 2, 2, 1), 1.0, "float32"))
    np.testing.assert_allclose(to_numpy(standardized.pixels()), 0.75)
    config = images.get_config()
    restored = ImageBatch.from_config(config)
    assert restored.get_config() == config


def test_image_prior_objective_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4, 2)).astype("float32")
    loss, logs = objectives.image_prior_objective(x, 0.5, 0.25)
    differences = (
        x[:, :, :-1] - x[:, :, 1:],
        x[:, :-1] - x[:, 1:],
        x[:, 1:, :-1] - x[:, :-1, 1:],
        x[:, :-1, :-1] - x[:, 1:, 1:],
    )
    tv = sum(np.sqrt(np.sum(d.astype("float64") ** 2)) for d in differences)
    l2 = np.sqrt(np.sum(x.astype("float64") ** 2))
    np.testing.assert_allclose(to_numpy(logs["total_variation"]), tv, 1e-5)
    np.testing.assert_allclose(to_numpy(logs["l2"]), l2, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(loss), 0.5 * tv + 0.25 * l2, 1e-5)


def test_competition_term_is_the_codes_clamped_batchmean_js():
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=(2, 6, 5)).astype("float32") * 3.0

    def softmax(v):
        e = np.exp(v - v.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p = np.clip(softmax(s / 3.0), 0.01, 0.99)
    q = np.clip(softmax(t / 3.0), 0.01, 0.99)
    m = np.clip((p + q) / 2.0, 0.01, 0.99)
    # PyTorch's KLDivLoss(log P, M, reduction="batchmean").
    expected = 0.5 * np.sum(m * (np.log(m) - np.log(p))) / 6
    expected += 0.5 * np.sum(m * (np.log(m) - np.log(q))) / 6
    np.testing.assert_allclose(
        to_numpy(clamped_reverse_js(t, s, 3.0, "batchmean")),
        expected,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        to_numpy(clamped_reverse_js(t, s, 3.0)), expected / 5, rtol=1e-5
    )
    with pytest.raises(ValueError, match="reduction"):
        clamped_reverse_js(t, s, 3.0, "sum")


def test_each_batch_starts_from_noise_with_fresh_adam_slots():
    distiller = tiny_distiller("deep_inversion", warmup_rounds=0)
    distiller.compile()
    method = distiller.method
    adam = distiller.optimizers["generator"]
    history = distiller.fit(steps=2, verbose=0)
    # Slots zeroed before each batch: 2 steps counted, not 4.
    assert int(to_numpy(adam.iterations)) == 2
    assert int(to_numpy(distiller.optimizers["student"].iterations)) == 4
    assert history.history["pool_images"][-1] == 20
    for name in ("batch_norm", "one_hot", "adversarial", "total_variation"):
        assert np.isfinite(history.history[name][-1]), name
    # The pool holds each batch's lowest-loss images as valid pixels.
    np.testing.assert_allclose(
        to_numpy(method.pool.images)[10:20] / 255.0,
        to_numpy(method.best.images),
        atol=0.5 / 255 + 1e-6,
    )
    best = to_numpy(method.best.images)
    assert best.min() >= 0.0 and best.max() <= 1.0
    # A new batch is a new draw: the images differ from round to round.
    first = to_numpy(method.pool.images)[:10]
    assert not np.allclose(first, to_numpy(method.pool.images)[10:20])


def test_warmup_rounds_leave_the_student_alone():
    distiller = tiny_distiller("deep_inversion", warmup_rounds=1)
    distiller.compile()
    before = [to_numpy(v) for v in distiller.student.trainable_variables]
    distiller.fit(steps=1, verbose=0)
    assert int(to_numpy(distiller.optimizers["student"].iterations)) == 0
    for b, v in zip(before, distiller.student.trainable_variables):
        np.testing.assert_array_equal(b, to_numpy(v))


def test_logs_and_options():
    plain = keras_dfkd.methods.get("deep_inversion", generator_steps=3)
    assert isinstance(plain, keras_dfkd.methods.DeepInversion)
    assert "adversarial" not in plain.log_names  # DeepInversion, not ADI.
    adaptive = keras_dfkd.methods.DeepInversion(adversarial_weight=10.0)
    assert "adversarial" in adaptive.log_names
    config = adaptive.get_config()
    assert config["adversarial_weight"] == 10.0
    assert config["total_variation_weight"] == 2.5e-5
    assert keras_dfkd.methods.DeepInversion(**config).get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(jitter=-1), "jitter"),
        (dict(flip="yes"), "flip"),
        (dict(total_variation_weight=-1.0), "total_variation_weight"),
        (dict(generator_steps=0), "generator_steps"),
        (dict(augmentation="jitter"), "'auto', 'crop', None or a layer"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_dfkd.methods.DeepInversion(**kwargs)


def test_a_teacher_without_batch_norm_is_refused():
    with pytest.raises(ValueError, match="BatchNorm"):
        tiny_distiller(
            "deep_inversion",
            teacher=lambda: small_net(8, "teacher", batch_norm=False),
        )
