"""DFAD: Data-Free Adversarial Distillation (Fang et al., 2019)."""

import keras
from keras import ops

from keras_dfkd import losses
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator import Generator
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.phase import Phase
from keras_dfkd.presets import PRESETS
from keras_dfkd.replay.replay import Replay
from keras_dfkd.replay.vae_replay import VAEReplay
from keras_dfkd.utils.arguments import derived_seed
from keras_dfkd.utils.arguments import deserialize_layer


@keras_dfkd_export("keras_dfkd.methods.DFAD")
class DFAD(Method):
    """DFAD: a generator that hunts for teacher-student disagreement.

    Each round runs `student_steps` student steps, each on a fresh batch
    from the (fixed) generator, then one generator step that maximises the
    same discrepancy, as DFAD's code does:

    ```
    repeat student_steps:  x = stop_gradient(G(z))
                           L_S = mean |S(x) - T(x)|        (L1 on logits)
    once:                  L_G = -mean |S(G(z)) - T(G(z))|
    ```

    With a `replay` memory (PRE-DFKD's "PRE-DFAD"), every student step also
    rehearses `memory_batch_size` replayed images, `L_S` runs over
    `[x; replay.sample(m)]`, the new images are offered to the memory
    (`replay.add(x)`), and a learned memory trains for `replay_steps` steps
    per round on fresh generator images.

    Both networks run in training mode, as in the reference code. The
    defaults are the paper's MNIST settings (DFAD's README advises batch
    256 for CIFAR) but the student's optimizer: `"auto"` picks Adam for a
    student without BatchNorm, where the paper trains its BN-free
    LeNet-5-half with PyTorch's SGD at 0.01 (`student_optimizer="sgd_l2"`,
    the `"dfad_mnist"` preset). Differences from the code: Keras's
    default initialisers.

    Args:
        batch_size: int. Defaults to `512`.
        latent_dim: int. Defaults to `100`.
        generator_width: int. Width of the DCGAN generator. Defaults to `64`.
        student_steps: int. Student steps per round. Defaults to `5`.
        generator_learning_rate: float. Defaults to `1e-3`.
        student_optimizer, student_learning_rate, student_weight_decay:
            see `Method` (DFAD's SGD rate is `0.01`). Default to
            `"auto"`, `None` and `1e-4`.
        replay: `None`, `"vae"` (a `keras_dfkd.replay.VAEReplay` with its
            defaults) or any `keras_dfkd.replay.Replay`. Defaults to `None`.
        memory_batch_size: int or `None`. Replayed images per student
            step; `None` means `batch_size // 8`.
        replay_steps: int. Training steps per round of a learned memory.
            Defaults to `4`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.DFAD.from_preset("dfad_cpu")
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=400)
    ```

    Reference:
        - [Fang et al., 2019](https://arxiv.org/abs/1912.11006)
    """

    presets = PRESETS["DFAD"]

    paper_student_learning_rate = 0.01

    def __init__(
        self,
        batch_size=512,
        latent_dim=100,
        generator_width=64,
        student_steps=5,
        generator_learning_rate=1e-3,
        student_optimizer="auto",
        student_learning_rate=None,
        student_weight_decay=1e-4,
        replay=None,
        memory_batch_size=None,
        replay_steps=4,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        if memory_batch_size is None:
            memory_batch_size = max(batch_size // 8, 1)
        replay = deserialize_layer(replay)
        if replay == "vae":
            replay = VAEReplay(seed=derived_seed(seed, 1))
        if replay is not None and not isinstance(replay, Replay):
            raise TypeError(
                "`replay` must be None, 'vae' or a keras_dfkd.replay.Replay "
                f"such as ImagePool or VAEReplay; received {replay!r}."
            )
        self.store_arguments(
            locals(),
            positive=("student_steps", "memory_batch_size", "replay_steps"),
        )

    @property
    def supports_distribution(self):
        # A replay memory's buffer and reservoir draws would diverge across
        # replicas; without one, every batch comes from `sample_noise`.
        return self.replay is None

    def build_synthesizer(self, teacher, student):
        self.generator = Generator(
            self.image_shape,
            latent_dim=self.latent_dim,
            width=self.generator_width,
            output_activation="tanh",
            output_batch_norm=True,
            input_range=self.input_range,
            name="generator",
        )
        self.generator.build()
        if self.replay is not None:
            self.replay.setup(teacher)

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(self.generator_learning_rate),
            "student": self.student_optimizer_instance(),
        }

    @property
    def phases(self):
        phases = [
            Phase.student(self._student_loss, self.student_steps),
            Phase.generator(self._generator_loss, logs=("generator_loss",)),
        ]
        return phases + self.replay_phases(
            self.replay_steps, self.memory_batch_size
        )

    def _student_loss(self, student):
        return self.distill_generated(
            student,
            divergence="l1",
            memory_batch_size=self.memory_batch_size if self.replay else 0,
        )

    def _generator_loss(self, student):
        images = self.generator(self.sample_noise(), training=True)
        teacher_logits = self.teacher(images)["logits"]
        student_logits = student(images, training=True)
        discrepancy = ops.mean(
            losses.l1_logits_loss(teacher_logits, student_logits)
        )
        return -discrepancy, {"generator_loss": -discrepancy}
