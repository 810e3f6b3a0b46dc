"""DFAD: Data-Free Adversarial Distillation (Fang et al., 2019)."""

import keras
from keras import ops

from keras_dfkd import losses
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator import Generator
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.method import Phase


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

    Both networks run in training mode, as in the reference code. Defaults
    are the paper's MNIST settings: batch 512 (DFAD's README advises 256
    for CIFAR), latent 100, SGD(0.01, momentum 0.9, weight decay 1e-4) for
    the student, Adam(1e-3) for the generator, 5 student steps per round.
    Keras applies weight decay decoupled from the gradient, a slight
    departure from PyTorch's SGD.

    Args:
        batch_size: int. Defaults to `512`.
        latent_dim: int. Defaults to `100`.
        generator_width: int. Width of the DCGAN generator. Defaults to `64`.
        student_steps: int. Student steps per round. Defaults to `5`.
        generator_learning_rate: float. Defaults to `1e-3`.
        student_learning_rate: float. Defaults to `0.01`.
        student_weight_decay: float. Defaults to `1e-4`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.DFAD(batch_size=256, generator_width=16)
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=400)
    ```

    Reference:
        - [Fang et al., 2019](https://arxiv.org/abs/1912.11006)
    """

    def __init__(
        self,
        batch_size=512,
        latent_dim=100,
        generator_width=64,
        student_steps=5,
        generator_learning_rate=1e-3,
        student_learning_rate=0.01,
        student_weight_decay=1e-4,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        if not isinstance(student_steps, int) or student_steps < 1:
            raise ValueError(
                "`student_steps` must be a positive int; received "
                f"{student_steps!r}."
            )
        self.latent_dim = latent_dim
        self.generator_width = generator_width
        self.student_steps = student_steps
        self.generator_learning_rate = generator_learning_rate
        self.student_learning_rate = student_learning_rate
        self.student_weight_decay = student_weight_decay

    def build_synthesizer(self, teacher, student):
        self.generator = Generator(
            self.image_shape,
            latent_dim=self.latent_dim,
            width=self.generator_width,
            output_activation="tanh",
            output_batch_norm=True,
            name="generator",
        )
        self.generator.build()

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(self.generator_learning_rate),
            "student": keras.optimizers.SGD(
                self.student_learning_rate,
                momentum=0.9,
                weight_decay=self.student_weight_decay,
            ),
        }

    @property
    def phases(self):
        return [
            Phase("student", ("student",), self.student_steps),
            Phase("generator", ("generator",), 1),
        ]

    @property
    def log_names(self):
        return ["student_loss", "generator_loss", "agreement"]

    def phase_loss(self, phase, student):
        images = self.generator(self.sample_noise(), training=True)
        if phase.name == "student":
            images = ops.stop_gradient(images)
        teacher_logits = self.teacher(images)["logits"]
        student_logits = student(images, training=True)
        discrepancy = ops.mean(
            losses.l1_logits_loss(teacher_logits, student_logits)
        )
        if phase.name == "student":
            logs = {
                "student_loss": discrepancy,
                "agreement": self.agreement(teacher_logits, student_logits),
            }
            return discrepancy, logs
        return -discrepancy, {"generator_loss": -discrepancy}

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "latent_dim": self.latent_dim,
                "generator_width": self.generator_width,
                "student_steps": self.student_steps,
                "generator_learning_rate": self.generator_learning_rate,
                "student_learning_rate": self.student_learning_rate,
                "student_weight_decay": self.student_weight_decay,
            }
        )
        return config
