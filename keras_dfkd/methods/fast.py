"""Fast: a meta-learned generator for quick per-batch synthesis (Fang 2022)."""

import keras
from keras import ops

from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator import Generator
from keras_dfkd.methods.phase import Phase
from keras_dfkd.methods.pooled_synthesis import PooledSynthesis
from keras_dfkd.methods.pooled_synthesis import check_augmentation
from keras_dfkd.optimizers import generator_adam
from keras_dfkd.presets import PRESETS
from keras_dfkd.utils.arguments import check_int

#: Reptile's scale of the meta gradient `G - G'` in Fast's code.
REPTILE_SCALE = 67.0


@keras_dfkd_export("keras_dfkd.methods.Fast")
class Fast(PooledSynthesis):
    """Fast: few synthesis steps from a meta-learned generator.

    A meta generator `G` holds the features all batches share; each round
    starts a fast generator `G'` from it, synthesises one batch in a few
    steps, and moves `G` towards where `G'` ended (Reptile), so the next
    batch starts closer to good images:

    ```
    G' <- G;  z ~ N(0, I);  y ~ U{0..K-1};  zero G' and z's Adam slots
    repeat generator_steps:
        x = G'(z);  t = T(norm(aug(x)));  s = S(norm(aug(x)))
        L = bn * L_bn(EMA momentum) + oh * CE(t, y)
            - adv * [round >= warmup] * masked_KL(t, s)
        keep x if L is the lowest loss of the batch
        Adam step on G' (rate lr_g) and on z (rate lr_z)
    meta step: Adam(lr_g * generator_steps) on G with gradient 67 (G - G')
    pool.add(lowest-loss x);  fold the batch statistics into the EMA
    if round >= warmup_rounds: student_steps KD steps on the pool
    ```

    (the round of `keras_dfkd.methods.PooledSynthesis` with a meta phase
    after the synthesis). `G` is the CMI/Fast line's generator
    (`keras_dfkd.generators.Generator` with sigmoid pixels and bias-free
    hidden convolutions); once, before round `projection_reset_round`,
    the meta generator's input projection is re-initialised from
    N(0, 0.02) (the code's `reset_l0`).

    The defaults are Fast-5 on CIFAR (`scripts/fast_cifar.sh`: 5 steps,
    `lr_g` 3e-3, `lr_z` 0.01, BN weight 10 with EMA 0.9, CE 0.5,
    adversarial 1.33, 20 warm-up rounds, 400 KD steps of batch 256 at
    temperature 20). Differences from the code: the meta step is
    Reptile's, which Fast's code offers (`is_maml=0`, its ImageNet
    setting), not the first-order MAML its CIFAR scripts select (a sum of
    the inner gradients, which the phase machinery does not keep); labels
    are drawn uniformly per batch, as the code does.

    Args:
        batch_size: int. Synthesis batch size. Defaults to `256`.
        generator_steps: int. Steps per batch (Fast-2/5/10). Defaults to
            `5`.
        latent_dim: int. Defaults to `256`.
        generator_width: int. Defaults to `64`.
        generator_learning_rate: float. `lr_g`. Defaults to `3e-3`.
        latent_learning_rate: float. `lr_z`. Defaults to `0.01`.
        meta_learning_rate: float or `None`. The meta Adam's rate;
            `None`: `lr_g * generator_steps`, the code's. Defaults to
            `None`.
        batch_norm_weight: float. Defaults to `10.0`.
        batch_norm_momentum: float. Defaults to `0.9`.
        one_hot_weight: float. Defaults to `0.5`.
        adversarial_weight: float. Defaults to `1.33`.
        warmup_rounds: int. Rounds without student steps and without the
            adversarial term. Defaults to `20`.
        projection_reset_round: int or `None`. Re-initialise the meta
            generator's projection before this round (counted from 1).
            Defaults to `140` (the code's `120 + warmup`).
        student_steps: int. Defaults to `400`.
        student_batch_size: int. Defaults to `256`.
        temperature: float. Defaults to `20.0`.
        augmentation, pool_capacity, pool_policy, pool_dtype: see `NAYER`.
            Default to `"auto"`, `50000`, `"ring"` and `"uint8"`.
        student_optimizer, student_learning_rate, student_weight_decay,
            decay_rounds: see `Method` (Fast's SGD rate is `0.2`).
            Default to `"auto"`, `None`, `1e-4` and `"fit"`.
        min_student_learning_rate: float. Defaults to `2e-4`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.Fast.from_preset("fast_cpu", seed=0)
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=100)
    ```

    Reference:
        - [Fang et al., 2022. Up to 100x Faster Data-free Knowledge
          Distillation](https://arxiv.org/abs/2112.06253)
    """

    presets = PRESETS["Fast"]
    paper_student_learning_rate = 0.2
    synthesis_groups = ("generator", "latent")
    fresh_groups = ("generator", "latent")
    synthesis_logs = (*objectives.BATCH_NORM_LOGS, "adversarial")

    def __init__(
        self,
        batch_size=256,
        generator_steps=5,
        latent_dim=256,
        generator_width=64,
        generator_learning_rate=3e-3,
        latent_learning_rate=0.01,
        meta_learning_rate=None,
        batch_norm_weight=10.0,
        batch_norm_momentum=0.9,
        one_hot_weight=0.5,
        adversarial_weight=1.33,
        warmup_rounds=20,
        projection_reset_round=140,
        student_steps=400,
        student_batch_size=256,
        temperature=20.0,
        augmentation="auto",
        pool_capacity=50000,
        pool_policy="ring",
        pool_dtype="uint8",
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
        if projection_reset_round is not None:
            check_int("projection_reset_round", projection_reset_round)
        self.store_arguments(
            locals(),
            positive=(
                "generator_steps",
                "latent_dim",
                "generator_width",
                "student_steps",
                "student_batch_size",
                "decay_rounds",
            ),
            non_negative=("warmup_rounds",),
        )

    def build_synthesizer(self, teacher, student):
        def generator(name):
            layer = Generator(
                self.image_shape,
                latent_dim=self.latent_dim,
                width=self.generator_width,
                output_activation="sigmoid",
                conv_bias=False,
                name=name,
            )
            layer.build()
            return layer

        self.meta_generator = generator("meta_generator")
        self.generator = generator("generator")
        self.latent = self.add_weight(
            shape=(self.batch_size, self.latent_dim),
            initializer="zeros",
            name="latent",
        )
        self.labels = self.add_weight(
            shape=(self.batch_size,),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="labels",
        )
        self.build_pool()

    def trainable_groups(self, student):
        groups = super().trainable_groups(student)
        groups.update(
            latent=[self.latent],
            meta=self.meta_generator.trainable_variables,
        )
        return groups

    def default_optimizers(self):
        meta_rate = self.meta_learning_rate
        if meta_rate is None:
            meta_rate = self.generator_learning_rate * self.generator_steps
        return {
            "generator": generator_adam(self.generator_learning_rate),
            "latent": generator_adam(self.latent_learning_rate),
            "meta": generator_adam(meta_rate),
            "student": self.default_student_optimizer(),
        }

    @property
    def phases(self):
        synthesis, student = super().phases
        meta = Phase("meta", ("meta",), self._meta_loss)
        return [synthesis, meta, student]

    def new_batch(self):
        if self.projection_reset_round is not None:
            self._reset_projection(
                ops.equal(self.rounds + 1, self.projection_reset_round)
            )
        for fast, meta in zip(
            self.generator.variables, self.meta_generator.variables
        ):
            fast.assign(meta.value)
        self.latent.assign(
            keras.random.normal(self.latent.shape, seed=self.seed_generator)
        )
        self.labels.assign(
            keras.random.randint(
                self.labels.shape,
                0,
                self.num_classes,
                seed=self.seed_generator,
                dtype="int32",
            )
        )

    def _reset_projection(self, condition):
        """The code's `reset_l0`: projection weights N(0, 0.02), bias 0."""
        project = self.meta_generator.project
        fresh = keras.random.normal(
            project.kernel.shape, stddev=0.02, seed=self.seed_generator
        )
        project.kernel.assign(ops.where(condition, fresh, project.kernel.value))
        if project.bias is not None:
            bias = project.bias.value
            project.bias.assign(
                ops.where(condition, ops.zeros_like(bias), bias)
            )

    def synthesis_loss(self, student):
        images = self.generator(self.latent.value, training=True)
        labels = self.labels.value
        loss, logs = self.teacher_objective(
            self.to_input_range(self.augment(images)),
            labels,
            student,
            adversarial_scale=ops.cast(self.warm(), "float32"),
        )
        return images, loss, logs

    def _meta_loss(self, student):
        """A loss whose gradient is Reptile's `67 (G - G')`."""
        del student
        loss = 0.0
        for meta, fast in zip(
            self.meta_generator.trainable_variables,
            self.generator.trainable_variables,
        ):
            step = REPTILE_SCALE * (meta.value - fast.value)
            loss = loss + ops.sum(ops.stop_gradient(step) * meta.value)
        return loss, {}

    def current_images(self, training=False):
        return self.generator(self.latent.value, training=training)
