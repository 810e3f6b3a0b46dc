"""PRE-DFKD: spectral-norm generator, replay VAE and the compiled round."""

import math

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.generators import Generator
from keras_dfkd.losses.jensen_shannon_divergence import clamped_reverse_js
from keras_dfkd.replay import VAEReplay
from keras_dfkd.teacher import Teacher
from keras_dfkd.testing import small_net
from keras_dfkd.testing import tiny_method
from keras_dfkd.testing import to_numpy

IMAGE_SHAPE = (16, 16, 1)


def spectral_norm(kernel):
    kernel = to_numpy(kernel)
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]))[1][0]


@pytest.fixture(scope="module")
def trained():
    """A distiller after six rounds, with its weights before them."""
    keras.utils.set_random_seed(0)
    distiller = keras_dfkd.DataFreeDistiller(
        small_net(8, "teacher"),
        small_net(4, "student"),
        tiny_method("pre_dfkd"),
    )
    # A small generator step keeps the kernels near their normalised value.
    distiller.compile(generator_optimizer=keras.optimizers.Adam(1e-4))
    before = {v.path: to_numpy(v) for v in distiller.trainable_variables}
    # Enough rounds for the one-step power iterations to converge.
    distiller.fit(steps=6, verbose=0)
    return distiller, before


def effective_spectral_norm(wrapper):
    """The top singular value of the kernel the wrapped conv computes with."""
    sigma = float(to_numpy(wrapper.sigma()))
    return spectral_norm(wrapper.layer.kernel) / sigma


def test_spectral_normalization_bounds_the_spectral_norm():
    keras.utils.set_random_seed(0)
    generator = Generator(
        IMAGE_SHAPE, latent_dim=8, width=4, spectral_normalization=True
    )
    generator.build()
    assert isinstance(generator.convs[0], keras_dfkd.layers.SpectralNorm)
    kernel = generator.convs[0].layer.kernel
    kernel.assign(5.0 * kernel)
    raw = to_numpy(kernel)
    noise = keras.random.normal((4, 8), seed=0)
    # One power iteration per call: give it enough calls to converge for
    # kernels whose top singular values are close.
    for _ in range(30):
        generator(noise, training=True)
    for conv in generator.convs + [generator.to_image]:
        assert abs(effective_spectral_norm(conv) - 1.0) < 0.05
    # PyTorch's semantics: the forward pass leaves the raw kernel alone.
    np.testing.assert_array_equal(to_numpy(kernel), raw)
    assert spectral_norm(kernel) > 2.0


def test_every_optimizer_advances_and_kernels_stay_normalised(trained):
    distiller, before = trained
    method = distiller.method
    iterations = {
        name: int(to_numpy(opt.iterations))
        for name, opt in distiller.optimizers.items()
    }
    assert iterations == {"generator": 6, "replay": 6, "student": 12}
    assert int(to_numpy(method.replay.update_count)) == 6
    for part in (
        method.generator,
        method.replay.encoder,
        method.replay.decoder,
        distiller.student,
    ):
        changed = [
            not np.array_equal(to_numpy(v), before[v.path])
            for v in part.trainable_variables
        ]
        assert any(changed), part.name
    # The power-iteration vectors advance inside the compiled step on
    # both backends, so the kernels the convs compute with stay normalised.
    for conv in method.generator.convs + [method.generator.to_image]:
        assert abs(effective_spectral_norm(conv) - 1.0) < 0.05


def test_no_image_is_stored(trained):
    distiller, _ = trained
    replay = distiller.method.replay
    for v in distiller.weights:
        assert tuple(v.shape[-3:]) != IMAGE_SHAPE, v.path
    parameters = sum(
        math.prod(v.shape)
        for v in replay.encoder.weights + replay.decoder.weights
    )
    assert replay.memory_bytes == 4 * parameters


def test_keras_file_round_trip_continues_training(trained, tmp_path):
    distiller, _ = trained
    path = str(tmp_path / "pre_dfkd.keras")
    distiller.save(path)
    restored = keras.saving.load_model(path)
    assert restored.method.get_config() == distiller.method.get_config()
    for a, b in zip(restored.weights, distiller.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)
    restored.fit(steps=1, verbose=0)
    assert int(to_numpy(restored.optimizers["replay"].iterations)) == 7
    assert int(to_numpy(restored.method.replay.update_count)) == 7


def test_vae_loss_terms_match_numpy():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    recon = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    t_logits = rng.normal(size=(4, 10)).astype("float32")
    r_logits = rng.normal(size=(4, 10)).astype("float32")
    mean = rng.normal(size=(4, 6)).astype("float32")
    log_var = rng.normal(size=(4, 6)).astype("float32")
    weight = np.array([1, 1, 1, 0], "float32")
    pixel, logit, kl = VAEReplay.loss_terms(
        images, recon, t_logits, r_logits, mean, log_var, weight
    )
    keep = slice(0, 3)
    np.testing.assert_allclose(
        to_numpy(pixel), np.abs(recon - images)[keep].mean(), rtol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(logit), np.abs(r_logits - t_logits)[keep].mean(), rtol=1e-5
    )
    expected_kl = np.mean(
        -0.5 * np.sum(1 + log_var - mean**2 - np.exp(log_var), axis=-1)[keep]
    )
    np.testing.assert_allclose(to_numpy(kl), expected_kl, rtol=1e-5)


def test_memory_latent_step_moves_towards_balanced_predictions():
    keras.utils.set_random_seed(0)
    # The class-balance term dominates the step's direction here.
    replay = VAEReplay(
        latent_dim=8,
        width=4,
        memory_learning_rate=0.1,
        one_hot_weight=0.0,
        entropy_weight=100.0,
        seed=2,
    )
    teacher = small_net(8, "teacher")
    # A teacher that favours class 0 leaves room to balance.
    bias = teacher.layers[-1].bias
    bias.assign(to_numpy(bias) + np.eye(10, dtype="float32")[0] * 2.0)
    replay.setup(Teacher(teacher))
    latents = keras.random.normal((64, 8), seed=5)
    # The step decodes in inference mode: give the decoder's BN moving
    # statistics those of its batches, as VAE training does.
    for _ in range(40):
        replay.decoder(latents, training=True)
    stepped = replay.balance_latents(latents)
    step = to_numpy(stepped) - to_numpy(latents)
    # A signed step (Adam's first): |step| = lr * |g| / (|g| + 1e-8).
    assert np.abs(step).max() <= 0.1 + 1e-6
    assert np.median(np.abs(step)) > 0.099

    def balance(z):
        logits = replay.teacher(replay.decoder(z, training=False))["logits"]
        return float(
            to_numpy(keras_dfkd.losses.information_entropy_loss(logits))
        )

    assert float(to_numpy(replay.latent_objective(stepped))) < float(
        to_numpy(replay.latent_objective(latents))
    )
    before, after = balance(latents), balance(stepped)
    assert after < before - 1e-4, (before, after)


def test_memory_is_decoded_in_inference_mode():
    replay = VAEReplay(latent_dim=8, width=4, latent_step=False, seed=3)
    replay.setup(Teacher(small_net(8, "teacher")))
    norms = [v for v in replay.decoder.non_trainable_variables]
    before = [to_numpy(v) for v in norms]
    images = to_numpy(replay.sample(16))
    # Inference mode: the decoder's BN moving statistics are not updated.
    for old, v in zip(before, norms):
        np.testing.assert_array_equal(old, to_numpy(v))
    # Without the latent step, the images are D(z) of the drawn N(0, I).
    latents = keras.random.normal((16, 8), seed=keras.random.SeedGenerator(3))
    np.testing.assert_allclose(
        images, to_numpy(replay.decoder(latents, training=False)), atol=1e-6
    )
    assert VAEReplay.from_config(replay.get_config()).latent_step is False


def test_latent_prior_term_matches_numpy():
    replay = VAEReplay(
        latent_dim=6, width=4, one_hot_weight=0.0, entropy_weight=0.0
    )
    replay.setup(Teacher(small_net(8, "teacher")))
    z = np.random.default_rng(4).normal(1.0, 2.0, size=(5, 6)).astype("f")
    # torch.var's default: unbiased over the batch.
    expected = np.mean((z.var(0, ddof=1) - 1) ** 2) + np.mean(z.mean(0) ** 2)
    np.testing.assert_allclose(
        to_numpy(replay.latent_objective(z)), expected, rtol=1e-5
    )


def test_batch_norm_epsilons_are_the_reference_codes():
    replay = VAEReplay(latent_dim=8, width=4)
    replay.setup(Teacher(small_net(8, "teacher")))
    assert [n.epsilon for n in replay.encoder.norms] == [0.8, 0.8, 1e-5]
    # PRE-DFKD's (and DAFL's) affine-free output BN: PyTorch's 1e-5.
    assert replay.decoder.output_norm.epsilon == 1e-5
    assert [n.epsilon for n in replay.decoder.norms] == [0.8, 0.8]
    # Luo et al.'s code's 0.8 is an option; Keras's 1e-3 the default.
    assert Generator.luo((32, 32, 3), 10).output_norm.epsilon == 1e-3
    luo = Generator.luo((32, 32, 3), 10, output_batch_norm_epsilon=0.8)
    assert luo.output_norm.epsilon == 0.8
    assert luo.get_config()["output_batch_norm_epsilon"] == 0.8


def test_clamped_reverse_js_matches_numpy():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(5, 10)).astype("float32") * 4
    s = rng.normal(size=(5, 10)).astype("float32") * 4

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    p = np.clip(softmax(t / 3), 0.01, 0.99)
    q = np.clip(softmax(s / 3), 0.01, 0.99)
    m = np.clip((p + q) / 2, 0.01, 0.99)
    expected = 0.5 * np.mean(m * (np.log(m) - np.log(p))) + 0.5 * np.mean(
        m * (np.log(m) - np.log(q))
    )
    np.testing.assert_allclose(
        to_numpy(clamped_reverse_js(t, s, 3.0)), expected, rtol=1e-5
    )


def test_vae_replay_plugs_into_dfad():
    keras.utils.set_random_seed(0)
    method = keras_dfkd.methods.DFAD(
        batch_size=16,
        latent_dim=8,
        generator_width=4,
        student_steps=1,
        replay=VAEReplay(latent_dim=8, width=4, seed=0),
        memory_batch_size=4,
        replay_steps=2,
        seed=0,
    )
    distiller = keras_dfkd.DataFreeDistiller(
        small_net(8, "teacher"), small_net(4, "student"), method
    )
    distiller.compile()
    history = distiller.fit(steps=1, verbose=0)
    assert int(to_numpy(distiller.optimizers["replay"].iterations)) == 2
    assert np.isfinite(history.history["replay_loss"][-1])
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(method)
    )
    assert isinstance(clone.replay, VAEReplay)
    assert clone.get_config() == method.get_config()


def test_image_pool_plugs_into_dfad():
    pool = keras_dfkd.replay.ImagePool(
        64, IMAGE_SHAPE, storage_dtype="float32", seed=0
    )
    method = keras_dfkd.methods.DFAD(
        batch_size=8,
        latent_dim=8,
        generator_width=4,
        student_steps=2,
        replay=pool,
        memory_batch_size=4,
        seed=0,
    )
    distiller = keras_dfkd.DataFreeDistiller(
        small_net(8, "teacher"), small_net(4, "student"), method
    )
    distiller.compile()
    distiller.fit(steps=1, verbose=0)
    assert "replay" not in distiller.optimizers
    assert int(to_numpy(pool.seen)) == 16


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=1), "at least 2"),
        (dict(memory_batch_size=0), "memory_batch_size"),
        (dict(replay_steps=0), "replay_steps"),
        (dict(adversarial_temperature=0.0), "adversarial_temperature"),
        (dict(decay_rounds=-1), "decay_rounds"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_method("pre_dfkd", **kwargs)


def test_dfad_rejects_unknown_replay():
    with pytest.raises(TypeError, match="Replay"):
        keras_dfkd.methods.DFAD(replay="images")


@pytest.mark.parametrize("size", [28, 30])
def test_encoder_pads_sizes_that_are_no_multiple_of_eight(size):
    encoder = keras_dfkd.replay.VAEEncoder((size, size, 1), 6, width=4)
    images = np.random.default_rng(0).normal(size=(3, size, size, 1))
    mean, log_variance = encoder(images.astype("float32"))
    assert tuple(mean.shape) == tuple(log_variance.shape) == (3, 6)
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        keras_dfkd.replay.VAEEncoder((28, 28))


def test_encoder_round_trip(tmp_path):
    encoder = keras_dfkd.replay.VAEEncoder(IMAGE_SHAPE, latent_dim=6, width=4)
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    restored = keras.saving.load_model(path)
    assert restored.get_config() == encoder.get_config()
    images = np.random.default_rng(0).normal(size=(3,) + IMAGE_SHAPE)
    for a, b in zip(restored(images), encoder(images)):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)
