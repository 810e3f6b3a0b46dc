"""PRE-DFKD: data-free distillation with generative pseudo replay."""

import keras
from keras import ops

from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator import Generator
from keras_dfkd.losses.jensen_shannon_divergence import clamped_reverse_js
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.phase import Phase
from keras_dfkd.presets import PRESETS
from keras_dfkd.replay.vae_replay import VAEReplay
from keras_dfkd.utils.arguments import derived_seed


@keras_dfkd_export("keras_dfkd.methods.PreDFKD")
class PreDFKD(Method):
    """PRE-DFKD: an adversarial generator plus a VAE that replays the past.

    The student learns from a novel generator that chases teacher-student
    disagreement, and rehearses what earlier generators made through a
    `keras_dfkd.replay.VAEReplay`, so its accuracy rises steadily without
    storing a single image. One round of `train_step` is one iteration of
    the reference code:

    ```
    generator (1 step), x = G(z), (t, f) = T(x):
        L_G = oh * CE(t, argmax t) + ie * sum_k pbar_k log10 pbar_k
              - a * mean|f| + 1 - clip(JS_T3(S(x), t), 0, 1)
    replay (replay_steps steps): VAE step on stop_gradient(G(z))[:B/2]
        plus memory_batch_size of its own replay samples
    student (student_steps steps), x_new = stop_gradient(G(z)):
        x_mem = replay.sample(memory_batch_size)
        L_S = mean |S([x_new; x_mem]) - T([x_new; x_mem])|   (L1 on logits)
    ```

    `JS_T3` is the reference code's clamped Jensen-Shannon variant at
    temperature 3 (`clamped_reverse_js`); minimising `1 - JS` drives the
    generator towards disagreement. The networks run in training mode,
    but the teacher and the VAE's decoder when it replays (inference mode,
    as the reference code's `eval()` before sampling memory).

    The novel generator is DAFL's with spectral-normalised convolutions
    (`keras_dfkd.layers.SpectralNorm`, PyTorch's semantics: the raw kernel
    is trained and divided by its top singular value in the forward pass),
    BN epsilon 0.8, tanh and an affine-free output BN (epsilon 1e-5).

    Defaults are the paper's CIFAR settings; its cosine decay spans its
    run, 400 epochs of 36 rounds, as the default `decay_rounds="fit"`
    spans the rounds of the first `fit`. For 28-32 px
    grey-scale pairs on a CPU, see the `"pre_dfkd_cpu"` and
    `"pre_dfkd_lenet_cpu"` presets (`keras_dfkd/presets.py`).

    Differences from the reference code: the VAE steps run before the
    student steps of a round instead of being interleaved with the first
    four of them, and draw their own batch of new images; Keras's default
    initialisers replace U(-0.08, 0.08); see `Method` on weight decay.

    Args:
        batch_size: int. Novel images per step (`B`). Defaults to `1024`.
        memory_batch_size: int or `None`. Replay images per student step;
            `None` means `batch_size // 8`.
        latent_dim: int. Novel generator's noise size. Defaults to `1000`.
        generator_width: int. Novel generator's width. Defaults to `64`.
        student_steps: int. Student steps per round. Defaults to `10`.
        replay_steps: int. VAE steps per round. Defaults to `4`.
        one_hot_weight: float. `oh`. Defaults to `1.0`.
        entropy_weight: float. `ie`. Defaults to `5.0`.
        activation_weight: float. `a`. Defaults to `0.1`.
        feature_layer: str or `None`. The teacher layer whose output the
            activation term reads; `None`: the input of the classifier
            head (on LeNet-5 the 120-d `conv3` output, as in the paper's
            code). Defaults to `None`.
        adversarial_temperature: float. JS temperature. Defaults to `3.0`.
        generator_learning_rate: float. Defaults to `0.02`.
        student_learning_rate, student_weight_decay, student_optimizer,
            decay_rounds: see `Method` (PRE-DFKD's CIFAR setting is SGD
            at `0.1`, its MNIST code's Adam; the decay ends at 0).
            Default to `None`, `5e-4`, `"auto"` and `"fit"`.
        vae_latent_dim: int. Defaults to `1000`.
        vae_width: int. Defaults to `64`.
        vae_learning_rate: float. Defaults to `5e-4`.
        memory_learning_rate: float. Latent step size. Defaults to `0.02`.
        memory_latent_step: bool. Take the class-balancing latent step
            before each replay (the paper's; `False` decodes N(0, I)
            latents directly and saves a decoder and teacher pass, forward
            and backward, per student step). Defaults to `True`.
        kl_weight: float. Defaults to `1e-5`.
        seed: int or `None`. Seeds the method (the VAE gets `seed + 1`).
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.PreDFKD.from_preset(
        "pre_dfkd_cpu")
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=600)
    print(method.replay.memory_bytes)     # the whole replay memory
    ```

    Reference:
        - [Binici et al., 2022. Robust and Resource-Efficient Data-Free
          Knowledge Distillation by Generative Pseudo
          Replay](https://arxiv.org/abs/2201.03019)
    """

    presets = PRESETS["PreDFKD"]

    paper_student_learning_rate = 0.1

    def __init__(
        self,
        batch_size=1024,
        memory_batch_size=None,
        latent_dim=1000,
        generator_width=64,
        student_steps=10,
        replay_steps=4,
        one_hot_weight=1.0,
        entropy_weight=5.0,
        activation_weight=0.1,
        feature_layer=None,
        adversarial_temperature=3.0,
        generator_learning_rate=0.02,
        student_learning_rate=None,
        student_weight_decay=5e-4,
        student_optimizer="auto",
        decay_rounds="fit",
        vae_latent_dim=1000,
        vae_width=64,
        vae_learning_rate=5e-4,
        memory_learning_rate=0.02,
        memory_latent_step=True,
        kl_weight=1e-5,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        if memory_batch_size is None:
            memory_batch_size = max(batch_size // 8, 1)
        if batch_size < 2:
            raise ValueError(
                "`batch_size` must be at least 2 (the VAE learns from half "
                f"of each batch); received {batch_size}."
            )
        self.store_arguments(
            locals(),
            positive=(
                "memory_batch_size",
                "latent_dim",
                "generator_width",
                "student_steps",
                "replay_steps",
                "decay_rounds",
            ),
        )
        self.replay = VAEReplay(
            latent_dim=vae_latent_dim,
            width=vae_width,
            learning_rate=vae_learning_rate,
            memory_learning_rate=memory_learning_rate,
            latent_step=memory_latent_step,
            kl_weight=kl_weight,
            one_hot_weight=one_hot_weight,
            entropy_weight=entropy_weight,
            seed=derived_seed(seed, 1),
            name="replay",
        )

    def build_synthesizer(self, teacher, student):
        self.use_teacher_features(teacher)
        self.generator = Generator.dafl(
            self.image_shape,
            input_range=self.input_range,
            latent_dim=self.latent_dim,
            width=self.generator_width,
            spectral_normalization=True,
            name="generator",
        )
        self.generator.build()
        self.replay.setup(teacher)

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(self.generator_learning_rate),
            "student": self.student_optimizer_instance(self.decay_rounds),
        }

    @property
    def phases(self):
        return [
            Phase.generator(
                self._generator_loss,
                logs=("generator_loss", *objectives.DAFL_LOGS, "adversarial"),
            ),
            *self.replay_phases(self.replay_steps, self.memory_batch_size),
            Phase.student(self._student_loss, self.student_steps),
        ]

    def _student_loss(self, student):
        return self.distill_generated(
            student, divergence="l1", memory_batch_size=self.memory_batch_size
        )

    def _generator_loss(self, student):
        images = self.generator(self.sample_noise(), training=True)
        teacher_out = self.teacher(images)
        logits = teacher_out["logits"]
        loss, logs = objectives.dafl_objective(
            logits,
            teacher_out["features"],
            one_hot_weight=self.one_hot_weight,
            entropy_weight=self.entropy_weight,
            activation_weight=self.activation_weight,
        )
        js = clamped_reverse_js(
            ops.stop_gradient(logits),
            student(images, training=True),
            self.adversarial_temperature,
        )
        adversarial = 1.0 - ops.clip(js, 0.0, 1.0)
        loss = loss + adversarial
        logs.update(generator_loss=loss, adversarial=adversarial)
        return loss, logs
