"""A generator trained on the teacher's BN statistics (DFQ/DeepInversion)."""

from keras_dfkd import losses
from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator import Generator
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.phase import Phase
from keras_dfkd.optimizers import generator_adam
from keras_dfkd.presets import PRESETS
from keras_dfkd.utils.arguments import deserialize_layer

ADVERSARIAL_LOSSES = (*objectives.DIVERGENCES, "none")


@keras_dfkd_export("keras_dfkd.methods.BNStatistics")
class BNStatistics(Method):
    """Generator trained to match the teacher's BatchNorm statistics.

    The common core of NAYER, Luo et al. and the CMI/Fast line, as the
    DFQ baseline of the Fast-Datafree harness runs it: each round makes one
    generator step, then `student_steps` KD steps on fresh samples.

    ```
    x = aug(G(z));  t = T(x);  s = S(x)
    L_G = bn * sum_l (||var_l(x) - rv_l||_2 + ||mean_l(x) - rm_l||_2)
          + oh * CE(t, argmax t)
          - adv * D(t, s)                      # D: masked KL, KL or JS
          + balance * sum_k pbar_k ln pbar_k   # class balance
    L_S = KL(softmax(t / tau) || softmax(S(x') / tau)) * tau^2,  x' fresh
    ```

    Args:
        batch_size: int. Defaults to `256`.
        latent_dim: int. Defaults to `256`.
        generator_width: int. Defaults to `64`.
        student_steps: int. KD steps per round. Defaults to `10`.
        batch_norm_weight: float. Defaults to `1.0`.
        batch_norm_momentum: float. EMA momentum of the compared batch
            statistics (0 in DFQ, 0.9 in Fast/NAYER). Defaults to `0.0`.
        one_hot_weight: float. Defaults to `1.0`.
        adversarial_weight: float. Defaults to `1.0`.
        adversarial_loss: one of `"masked_kl"` (CMI/Fast/NAYER), `"kl"`
            (DFQ), `"js"` (DeepInversion's ADI) or `"none"`. Defaults to
            `"masked_kl"`.
        balance_weight: float. Defaults to `20.0`.
        temperature: float. KD temperature `tau`. Defaults to `20.0`.
        augmentation: `None` or a layer applied to the synthetic images
            before the networks see them, e.g.
            `keras_dfkd.layers.DifferentiableAugmentation()`. Defaults to
            `None`.
        generator_learning_rate: float. Adam(beta_1=0.5, beta_2=0.999).
            Defaults to `1e-3`.
        student_optimizer, student_learning_rate, student_weight_decay:
            see `Method` (DFQ's SGD rate is `0.1`). Default to `"auto"`,
            `None` and `1e-4`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.BNStatistics.from_preset(
        "bn_statistics_cpu")
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=300)
    ```

    Reference:
        - [Choi et al., DFQ, 2020](https://arxiv.org/abs/2005.04136)
        - [Yin et al., DeepInversion, 2020](https://arxiv.org/abs/1912.08795)
    """

    requires_batch_norm = True
    supports_distribution = True
    presets = PRESETS["BNStatistics"]

    paper_student_learning_rate = 0.1

    def __init__(
        self,
        batch_size=256,
        latent_dim=256,
        generator_width=64,
        student_steps=10,
        batch_norm_weight=1.0,
        batch_norm_momentum=0.0,
        one_hot_weight=1.0,
        adversarial_weight=1.0,
        adversarial_loss="masked_kl",
        balance_weight=20.0,
        temperature=20.0,
        augmentation=None,
        generator_learning_rate=1e-3,
        student_optimizer="auto",
        student_learning_rate=None,
        student_weight_decay=1e-4,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"`adversarial_loss` must be one of {ADVERSARIAL_LOSSES}; "
                f"received {adversarial_loss!r}."
            )
        self.store_arguments(
            locals(),
            positive=("student_steps",),
            augmentation=deserialize_layer(augmentation),
        )

    def build_synthesizer(self, teacher, student):
        # DFQ's tanh and affine-free BN for standardised teachers; the
        # Fast/NAYER line's sigmoid pixels for a known input range.
        standardized = self.input_range.is_standardized
        self.generator = Generator(
            self.image_shape,
            latent_dim=self.latent_dim,
            width=self.generator_width,
            output_activation="tanh" if standardized else "sigmoid",
            input_range=self.input_range,
            conv_bias=False,
            name="generator",
        )
        self.generator.build()
        self.batch_norm_loss = losses.BatchNormStatisticsLoss(
            momentum=self.batch_norm_momentum, name="batch_norm_loss"
        )
        self.batch_norm_loss.build(teacher.batch_norm_input_shapes)
        self.set_augmentation(self.augmentation)

    def default_optimizers(self):
        return {
            "generator": generator_adam(self.generator_learning_rate),
            "student": self.student_optimizer_instance(),
        }

    @property
    def phases(self):
        return [
            Phase.generator(
                self._generator_loss,
                logs=(
                    *objectives.BATCH_NORM_LOGS,
                    "adversarial",
                    "balance",
                    "generator_loss",
                ),
            ),
            Phase.student(self._student_loss, self.student_steps),
        ]

    def _student_loss(self, student):
        return self.distill_generated(student, temperature=self.temperature)

    def _generator_loss(self, student):
        images = self.generator(self.sample_noise(), training=True)
        return objectives.batch_norm_objective(
            self.teacher,
            self.augment(images),
            self.batch_norm_loss,
            student=None if self.adversarial_loss == "none" else student,
            adversarial=self.adversarial_loss,
            batch_norm_weight=self.batch_norm_weight,
            one_hot_weight=self.one_hot_weight,
            adversarial_weight=self.adversarial_weight,
            balance_weight=self.balance_weight,
        )

    def after_round(self):
        """Folds this round's batch statistics into the EMA (momentum > 0)."""
        super().after_round()
        if self.batch_norm_momentum > 0:
            self.batch_norm_loss.update_ema()
