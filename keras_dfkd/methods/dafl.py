"""DAFL: Data-Free Learning of student networks (Chen et al., 2019)."""

import keras
from keras import ops

from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator import Generator
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.phase import Phase
from keras_dfkd.presets import PRESETS


@keras_dfkd_export("keras_dfkd.methods.DAFL")
class DAFL(Method):
    """DAFL: the teacher as a discriminator of an online generator.

    Each round draws `z ~ N(0, I)`, makes `x = G(z)` and updates the
    generator and the student together, from one loss, as DAFL's code does:

    ```
    t, f = T(x)                     # teacher logits, classifier-head input
    L_G = oh * CE(t, argmax t) + ie * sum_k pbar_k log10 pbar_k - a * mean|f|
    L_S = KL(softmax(t / tau) || softmax(S(stop_gradient(x)) / tau)) * tau^2
    (L_G + L_S) -> Adam step on G and on S
    ```

    The defaults are the paper's MNIST settings. Besides its losses, a
    round logs the generator's `saturation` (the fraction of tanh outputs
    beyond 0.99) and `output_variance` (the batch variance entering the
    output BN), which show the collapse of a generator whose tanh
    saturates (`keras_dfkd.generators.Generator`).

    As in the paper's code: the generator (`Generator.dafl`: block BN
    epsilon 0.8, tanh, affine-free output BN), one joint step of both
    Adams per round, the activation term on the input of the teacher's
    classifier head (LeNet-5's 120-d `conv3` output). Differences: Keras's
    default initialisers. The method needs no BatchNorm in the teacher,
    and works best without: with this project's LeNet-5 with BN, which
    is confident (0.84 mean top probability) on Gaussian noise, the
    one-hot term is met by images the student learns little from (see
    the README's PRE-DFKD section); the paper's LeNet-5 has none.

    Args:
        batch_size: int. Defaults to `512`.
        latent_dim: int. Defaults to `100`.
        generator_width: int. Width of the DCGAN generator. Defaults to `64`.
        one_hot_weight: float. Weight `oh`. Defaults to `1.0`.
        entropy_weight: float. Weight `ie`. Defaults to `5.0`.
        activation_weight: float. Weight `a`. Defaults to `0.1`.
        feature_layer: str or `None`. The teacher layer whose output the
            activation term reads; `None`: the input of the classifier
            head (on LeNet-5 the 120-d `conv3` output, as in the paper's
            code). Defaults to `None`.
        temperature: float. KD temperature `tau`. Defaults to `1.0`.
        generator_learning_rate: float. Defaults to `0.2`.
        student_learning_rate: float. Defaults to `2e-3`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student, method=keras_dfkd.methods.DAFL(batch_size=256))
    distiller.compile()
    distiller.fit(steps=1000)
    ```

    Reference:
        - [Chen et al., 2019](https://arxiv.org/abs/1904.01186)
    """

    presets = PRESETS["DAFL"]

    def __init__(
        self,
        batch_size=512,
        latent_dim=100,
        generator_width=64,
        one_hot_weight=1.0,
        entropy_weight=5.0,
        activation_weight=0.1,
        feature_layer=None,
        temperature=1.0,
        generator_learning_rate=0.2,
        student_learning_rate=2e-3,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        self.store_arguments(locals())

    def build_synthesizer(self, teacher, student):
        self.use_teacher_features(teacher)
        self.generator = Generator.dafl(
            self.image_shape,
            input_range=self.input_range,
            latent_dim=self.latent_dim,
            width=self.generator_width,
            name="generator",
        )
        self.generator.build()

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(self.generator_learning_rate),
            "student": keras.optimizers.Adam(self.student_learning_rate),
        }

    @property
    def phases(self):
        return [
            Phase(
                "joint",
                ("generator", "student"),
                self._joint_loss,
                logs=(
                    *objectives.DAFL_LOGS,
                    "generator_loss",
                    *objectives.STUDENT_LOGS,
                    "saturation",
                    "output_variance",
                ),
            )
        ]

    def _joint_loss(self, student):
        images, diagnostics = self.generator(
            self.sample_noise(), training=True, return_diagnostics=True
        )
        teacher_out = self.teacher(images)
        logits = teacher_out["logits"]
        generator_loss, logs = objectives.dafl_objective(
            logits,
            teacher_out["features"],
            one_hot_weight=self.one_hot_weight,
            entropy_weight=self.entropy_weight,
            activation_weight=self.activation_weight,
        )
        # The student learns from the same images, detached from G.
        student_loss, student_logs = objectives.distillation_objective(
            ops.stop_gradient(logits),
            student(ops.stop_gradient(images), training=True),
            temperature=self.temperature,
        )
        logs.update(generator_loss=generator_loss, **student_logs)
        logs.update(diagnostics)
        return generator_loss + student_loss, logs
