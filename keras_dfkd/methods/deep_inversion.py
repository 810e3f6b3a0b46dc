"""DeepInversion: images optimised against the teacher (Yin et al., 2020)."""

import keras
from keras import ops

from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.image_batch import ImageBatch
from keras_dfkd.layers.differentiable_augmentation import (
    DifferentiableAugmentation,
)
from keras_dfkd.methods.pooled_synthesis import PooledSynthesis
from keras_dfkd.methods.pooled_synthesis import check_augmentation
from keras_dfkd.presets import PRESETS
from keras_dfkd.utils.arguments import derived_seed


@keras_dfkd_export("keras_dfkd.methods.DeepInversion")
class DeepInversion(PooledSynthesis):
    """DeepInversion: each batch of images is itself optimised, from noise.

    No generator: the trained variables are the images
    (`keras_dfkd.generators.ImageBatch`), drawn from N(0, 1) in the
    teacher's input units for every batch and optimised for
    `generator_steps` Adam steps (its slots zeroed for every batch, as the
    reference code resets its optimizer) to match the teacher's BN
    statistics and labels, under image priors:

    ```
    x ~ N(0, I);  y = [0..K-1, 0..K-1, ...]
    repeat generator_steps:
        x_j = jitter(x)                       # a random roll (and flip)
        L = bn * L_bn(T's BN inputs on x_j) + oh * CE(T(x_j), y)
            + tv * TV_l2(x_j) + l2 * ||x_j||_2
            - adv * JS_3(S(x_j), T(x_j))      # Adaptive DeepInversion
        keep x if L is the lowest loss of the batch;  Adam step on x
        x <- clip(x, valid pixels)
    pool.add(lowest-loss x)
    repeat student_steps:  x ~ pool;  KL(T(x')/tau || S(x')/tau) tau^2
    ```

    (the round of `keras_dfkd.methods.PooledSynthesis`). `JS_3` is the
    clamped Jensen-Shannon divergence at temperature 3 of DeepInversion's
    competition term, whose `1 - JS` has the same gradient; the student
    runs in inference mode there. With `adversarial_weight=0` (the
    default) this is DeepInversion; with a positive weight, Adaptive
    DeepInversion (ADI).

    The synthesis defaults are DeepInversion's CIFAR-10 settings (its
    code and README: 2,000 steps of Adam at 0.05, BN weight 10, TV-L2
    2.5e-5, no l2, a roll of up to 2 pixels, no flip). The student side
    is the CIFAR harness that NAYER, CMI and Fast share (400 KD steps of
    batch 256 per synthesis batch, KL at temperature 20, SGD 0.1 with
    cosine decay to 2e-4, crop-and-flip augmentation), as in the
    comparisons those papers report; the `"deep_inversion_cifar10"`
    preset states the PyTorch SGD. Differences from the reference code:
    the jitter and flip are drawn per image, not per batch; labels are
    class-ordered (`arange(batch) % K`, the code's CIFAR targets).

    Args:
        batch_size: int. Images per synthesis batch. Defaults to `256`.
        generator_steps: int. Steps per batch. Defaults to `2000`.
        generator_learning_rate: float. Adam's rate on the images.
            Defaults to `0.05`.
        batch_norm_weight: float. Defaults to `10.0`.
        one_hot_weight: float. Defaults to `1.0`.
        adversarial_weight: float. ADI's competition weight. Defaults to
            `0.0`.
        total_variation_weight: float. Defaults to `2.5e-5`.
        l2_weight: float. Defaults to `0.0`.
        jitter: int. Largest roll in pixels. Defaults to `2`.
        flip: bool. Random horizontal flips in the synthesis. Defaults to
            `False`.
        student_steps: int. Student steps per round. Defaults to `400`.
        student_batch_size: int. Defaults to `256`.
        warmup_rounds: int. Rounds without student steps. Defaults to `0`.
        temperature: float. Defaults to `20.0`.
        augmentation: `"auto"`, `"crop"`, `None` or a layer: the student's
            augmentation of pool images (see `NAYER`). Defaults to
            `"auto"`.
        pool_capacity, pool_policy, pool_dtype: the `ImagePool`'s.
            Default to `50000`, `"ring"` and `"uint8"`.
        batch_norm_momentum: float. EMA of the BN loss (DeepInversion:
            none). Defaults to `0.0`.
        student_optimizer, student_learning_rate, student_weight_decay,
            decay_rounds: see `Method`. Default to `"auto"`, `None`,
            `1e-4` and `"fit"`.
        min_student_learning_rate: float. Defaults to `2e-4`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.DeepInversion.from_preset(
        "deep_inversion_cpu", seed=0)
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=20)
    ```

    Reference:
        - [Yin et al., 2020. Dreaming to Distill: Data-free Knowledge
          Transfer via DeepInversion](https://arxiv.org/abs/1912.08795)
    """

    presets = PRESETS["DeepInversion"]

    @property
    def synthesis_logs(self):
        adversarial = ("adversarial",) if self.adversarial_weight else ()
        return (
            *objectives.BATCH_NORM_LOGS,
            *adversarial,
            *objectives.IMAGE_PRIOR_LOGS,
        )

    def __init__(
        self,
        batch_size=256,
        generator_steps=2000,
        generator_learning_rate=0.05,
        batch_norm_weight=10.0,
        one_hot_weight=1.0,
        adversarial_weight=0.0,
        total_variation_weight=2.5e-5,
        l2_weight=0.0,
        jitter=2,
        flip=False,
        student_steps=400,
        student_batch_size=256,
        warmup_rounds=0,
        temperature=20.0,
        augmentation="auto",
        pool_capacity=50000,
        pool_policy="ring",
        pool_dtype="uint8",
        batch_norm_momentum=0.0,
        student_optimizer="auto",
        student_learning_rate=None,
        student_weight_decay=1e-4,
        decay_rounds="fit",
        min_student_learning_rate=2e-4,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        augmentation = check_augmentation(augmentation)
        if flip not in (True, False):
            raise ValueError(f"`flip` must be a bool; received {flip!r}.")
        self.store_arguments(
            locals(),
            positive=(
                "generator_steps",
                "student_steps",
                "student_batch_size",
                "decay_rounds",
            ),
            non_negative=("warmup_rounds", "jitter"),
        )

    def build_synthesizer(self, teacher, student):
        self.generator = ImageBatch(
            self.image_shape,
            self.batch_size,
            input_range=self.input_range,
            name="images",
        )
        self.generator.build()
        self.build_pool()
        # DeepInversion's jitter: a roll that wraps around the border.
        self.jitter_layer = DifferentiableAugmentation(
            padding=self.jitter,
            flip=self.flip,
            fill_mode="wrap",
            seed=derived_seed(self.seed, 3),
            name="jitter",
        )
        self.jitter_layer.build((None,) + self.image_shape)

    def default_optimizers(self):
        return {
            "generator": keras.optimizers.Adam(self.generator_learning_rate),
            "student": self.default_student_optimizer(),
        }

    def new_batch(self):
        self.generator.reinitialize(self.seed_generator)

    def synthesis_loss(self, student):
        pixels = self.generator.pixels()
        inputs = self.to_input_range(self.jitter_layer(pixels, training=True))
        # Class-ordered labels, as the reference code's CIFAR targets.
        labels = ops.mod(
            ops.arange(self.batch_size, dtype="int32"), self.num_classes
        )
        loss, logs = self.teacher_objective(
            inputs, labels, student, adversarial="clamped_js"
        )
        priors, prior_logs = objectives.image_prior_objective(
            inputs, self.total_variation_weight, self.l2_weight
        )
        loss = loss + priors
        logs.update(prior_logs, generator_loss=loss)
        return pixels, loss, logs

    def current_images(self, training=False):
        return self.generator.pixels()
