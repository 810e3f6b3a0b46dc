"""PRE-DFKD's generative pseudo replay: a teacher-aware VAE as memory."""

import math

import keras
from keras import ops

from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.backend import input_gradient
from keras_dfkd.generators.generator import Generator
from keras_dfkd.replay.replay import Replay
from keras_dfkd.replay.vae_encoder import VAEEncoder


@keras_dfkd_export("keras_dfkd.replay.VAEReplay")
class VAEReplay(Replay):
    """A VAE that models past synthetic images and replays new ones.

    PRE-DFKD's memory: instead of storing synthetic images, a VAE learns
    their distribution during distillation and its decoder (the "memory
    generator") makes replay images for the student. The memory costs only
    the VAE's parameters, however long the run.

    Training (one `training_loss` step, on fresh images `x_new`):

    ```python
    X = concat([x_new, sample(replay_batch_size)])   # new + own replay
    mu, log_var = encoder(X); z = mu + exp(log_var / 2) * eps
    X_rec = decoder(z)
    L_rec = mean|X_rec - X| + mean|T(X_rec) - T(X)|   # pixels + teacher logits
    L_kl = kl_weight * mean_i(-0.5 * sum_j(1 + log_var - mu^2 - exp(log_var)))
    loss = L_rec + L_kl
    ```

    The teacher-logit term makes the VAE "synthetic-data aware": synthetic
    images keep their label only near the exact pixels the generator made,
    so pixel error alone would reconstruct images the teacher reads
    differently. On the very first step there is nothing to replay yet and
    only `x_new` is used.

    Replay (`sample`, class-balanced memory inference): latents
    `z ~ N(0, I)` take one step of a freshly created Adam optimizer (which
    amounts to `z - lr * sign(g)`) on

    ```python
    ie * sum_k pbar_k log10 pbar_k + oh * CE(T(D(z)), argmax)
        + mean((var_batch(z) - 1)^2) + mean(mean_batch(z)^2)
    ```

    so the replayed batch covers the classes evenly with confident teacher
    predictions and stays in the prior's bulk; then `D(z)` is decoded.
    The decoder runs in inference mode there (its BN moving statistics),
    as the reference code's `eval()` before sampling memory; the encoder
    and decoder train in training mode. The step moves `z` by
    `memory_learning_rate` per coordinate (0.02 against N(0, 1) latents)
    and costs one more decoder and teacher pass, forward and backward, per
    replayed batch; `latent_step=False` skips it.

    The decoder is PRE-DFKD's memory generator: the DAFL generator
    (BN epsilon 0.8, tanh, affine-free output BN) without spectral norm.

    Args:
        latent_dim: int. Size of the VAE's latent code. Defaults to `1000`.
        width: int. Channel width of encoder and decoder (`64` in the
            paper, whose networks then have 4.3 M and 8.4 M parameters at
            32x32x3). Defaults to `64`.
        learning_rate: float. Adam learning rate of encoder and decoder
            (the paper's `0.02 / 40`). Defaults to `5e-4`.
        memory_learning_rate: float. Step size of the latent step.
            Defaults to `0.02`.
        kl_weight: float. Weight of the KL term. Defaults to `1e-5`.
        one_hot_weight: float. `oh` of the latent step. Defaults to `1.0`.
        entropy_weight: float. `ie` of the latent step. Defaults to `5.0`.
        latent_step: bool. Take the memory-latent step before decoding
            (the paper's). Defaults to `True`.
        seed: int or `None`. Seed of the memory's `SeedGenerator`.
        **kwargs: standard layer arguments such as `name`.

    Example:

    ```python
    method = keras_dfkd.methods.DFAD(
        replay=keras_dfkd.replay.VAEReplay(latent_dim=256, width=32))
    ```

    Reference:
        - [Binici et al., 2022. Robust and Resource-Efficient Data-Free
          Knowledge Distillation by Generative Pseudo
          Replay](https://arxiv.org/abs/2201.03019)
    """

    learns = True
    log_names = ("replay_loss", "replay_pixel", "replay_logit", "replay_kl")

    def __init__(
        self,
        latent_dim=1000,
        width=64,
        learning_rate=5e-4,
        memory_learning_rate=0.02,
        kl_weight=1e-5,
        one_hot_weight=1.0,
        entropy_weight=5.0,
        latent_step=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("latent_dim", latent_dim), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive int; received {value!r}."
                )
        self.latent_dim = latent_dim
        self.width = width
        self.learning_rate = learning_rate
        self.memory_learning_rate = memory_learning_rate
        self.kl_weight = kl_weight
        self.one_hot_weight = one_hot_weight
        self.entropy_weight = entropy_weight
        self.latent_step = latent_step
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.teacher = None

    def setup(self, teacher):
        if self.teacher is not None:
            raise ValueError(
                "This VAEReplay already serves a teacher; create a new one "
                "for each distiller."
            )
        self.teacher = teacher
        image_shape = teacher.input_shape
        self.encoder = VAEEncoder(
            image_shape, self.latent_dim, self.width, name="encoder"
        )
        self.decoder = Generator.dafl(
            image_shape,
            input_range=teacher.input_range,
            latent_dim=self.latent_dim,
            width=self.width,
            name="decoder",
        )
        self.decoder.build()
        self.update_count = self.add_weight(
            shape=(),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            autocast=False,
            name="update_count",
        )
        self.built = True

    def default_optimizer(self):
        return keras.optimizers.Adam(self.learning_rate)

    @property
    def memory_bytes(self):
        """Bytes of the VAE's variables: the whole memory."""
        return sum(
            math.prod(v.shape) * _itemsize(v.dtype)
            for v in self.encoder.weights + self.decoder.weights
        )

    def add(self, images):
        """Does nothing: the VAE learns in its own phase."""

    def latent_objective(self, latents):
        """The class-balance objective of the memory-latent step (scalar)."""
        logits = self.teacher(self.decoder(latents, training=False))["logits"]
        balance, _ = objectives.dafl_objective(
            logits,
            one_hot_weight=self.one_hot_weight,
            entropy_weight=self.entropy_weight,
        )
        mean = ops.mean(latents, axis=0)
        # Unbiased, as torch.var is by default.
        n = latents.shape[0]
        variance = ops.var(latents, axis=0) * (n / max(n - 1, 1))
        prior = ops.mean(ops.square(variance - 1.0)) + ops.mean(
            ops.square(mean)
        )
        return balance + prior

    def balance_latents(self, latents):
        """One step of a fresh Adam on `latent_objective` from `latents`.

        Adam's first bias-corrected step is `lr * g / (|g| + eps)`, i.e. a
        signed step, so no optimizer state is needed.
        """
        _, grad = input_gradient(self.latent_objective, latents)
        step = grad / (ops.abs(grad) + 1e-8)
        return ops.stop_gradient(latents - self.memory_learning_rate * step)

    def sample(self, batch_size):
        latents = keras.random.normal(
            (batch_size, self.latent_dim), seed=self.seed_generator
        )
        if self.latent_step:
            latents = self.balance_latents(latents)
        return ops.stop_gradient(self.decoder(latents, training=False))

    @staticmethod
    def loss_terms(
        images,
        reconstructions,
        teacher_logits,
        reconstruction_logits,
        mean,
        log_variance,
        sample_weight,
    ):
        """Returns `(pixel_l1, logit_l1, kl)`, sample-weighted means."""
        images, reconstructions, mean, log_variance = (
            ops.cast(x, "float32")
            for x in (images, reconstructions, mean, log_variance)
        )
        reconstruction_logits = ops.cast(reconstruction_logits, "float32")
        teacher_logits = ops.cast(teacher_logits, "float32")
        weight = ops.cast(sample_weight, "float32")
        total = ops.maximum(ops.sum(weight), 1.0)
        pixel = ops.mean(ops.abs(reconstructions - images), axis=(1, 2, 3))
        logit = ops.mean(
            ops.abs(reconstruction_logits - teacher_logits), axis=-1
        )
        kl = -0.5 * ops.sum(
            1.0 + log_variance - ops.square(mean) - ops.exp(log_variance),
            axis=-1,
        )
        return tuple(
            ops.sum(weight * term) / total for term in (pixel, logit, kl)
        )

    def training_loss(self, images, replay_batch_size):
        images = ops.stop_gradient(images)
        replayed = self.sample(replay_batch_size)
        data = ops.concatenate([images, replayed], axis=0)
        # Nothing to replay before the first update.
        replay_weight = ops.cast(self.update_count > 0, "float32")
        weight = ops.concatenate(
            [
                ops.ones((ops.shape(images)[0],), "float32"),
                replay_weight * ops.ones((replay_batch_size,), "float32"),
            ],
            axis=0,
        )
        units = self.teacher.input_range.pixel_units
        mean, log_variance = self.encoder(units(data), training=True)
        noise = keras.random.normal(
            ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator
        )
        latents = mean + ops.exp(0.5 * log_variance) * noise
        reconstructions = self.decoder(latents, training=True)
        pixel, logit, kl = self.loss_terms(
            units(data),
            units(reconstructions),
            self.teacher(data)["logits"],
            self.teacher(reconstructions)["logits"],
            mean,
            log_variance,
            weight,
        )
        self.update_count.assign(self.update_count + 1)
        loss = pixel + logit + self.kl_weight * kl
        return loss, {
            "replay_loss": loss,
            "replay_pixel": pixel,
            "replay_logit": logit,
            "replay_kl": kl,
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "latent_dim": self.latent_dim,
                "width": self.width,
                "learning_rate": self.learning_rate,
                "memory_learning_rate": self.memory_learning_rate,
                "kl_weight": self.kl_weight,
                "one_hot_weight": self.one_hot_weight,
                "entropy_weight": self.entropy_weight,
                "latent_step": self.latent_step,
                "seed": self.seed,
            }
        )
        return config


def _itemsize(dtype):
    return {"float16": 2, "bfloat16": 2, "int64": 8, "float64": 8}.get(
        keras.backend.standardize_dtype(dtype), 4
    )
