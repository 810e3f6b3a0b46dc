"""Large-Scale Generative Data-Free Distillation (Luo et al., 2020)."""

import keras
from keras import ops

from keras_dfkd import backend
from keras_dfkd import losses
from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator_ensemble import GeneratorEnsemble
from keras_dfkd.layers.differentiable_augmentation import (
    DifferentiableAugmentation,
)
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.phase import Phase
from keras_dfkd.optimizers import generator_adam
from keras_dfkd.presets import PRESETS
from keras_dfkd.utils.arguments import check_int
from keras_dfkd.utils.arguments import derived_seed
from keras_dfkd.utils.arguments import deserialize_layer

#: Images at least this large get DeepInversion's jitter and flip by default.
LARGE_IMAGE_SIZE = 64


@keras_dfkd_export("keras_dfkd.methods.LargeScale")
class LargeScale(Method):
    """Ensemble of BN-statistics generators, then distillation from it.

    Luo et al. train class-conditional generators on the teacher's
    BatchNorm statistics and distil the student on images from the
    ensemble. The released code has the generator only; the objective and
    schedule below are this library's reading of the paper (see
    ALGORITHMS.md 5), each part an option:

    ```
    stage 1 (rounds < generator_rounds), for every member i at once:
        y_i ~ class-balanced,  x_i = aug(G_i(z_i, y_i))
        L_i = bn * sum_l (||var_l(x_i) - rv_l|| + ||mean_l(x_i) - rm_l||)
              + oh * CE(T(x_i), y_i)
        L_G = sum_i L_i          # members share no weights: independent
    stage 2 (the rest; also in stage 1 with joint=True), student_steps x:
        k ~ U{0..N-1},  x = aug(G_k(z, y)) with G_k frozen (inference BN)
        L_S = KL(softmax(T(x) / tau) || softmax(S(x) / tau)) * tau^2
    ```

    Each member sees its own `batch_size / ensemble_size` images, so its
    BN statistics are its own and one compiled step trains all members.
    Interpretations (not given by the paper or its code): one member per
    student batch (`k` drawn every step), no adversarial term, the Adam
    and SGD settings below, KD temperature 20 (the DFQ/Fast baseline's),
    and inference-mode BN in the frozen generators.

    The defaults are the CIFAR-size setting; for 28-32 px grey-scale pairs
    on a CPU, see the `"large_scale_cpu"` and `"large_scale_lenet_cpu"`
    presets (`keras_dfkd/presets.py`).
    With a trained `ensemble` and `generator_rounds=0` the method only
    distils (stage 2).

    Args:
        batch_size: int. Synthetic images per step, split evenly among the
            members in stage 1. Defaults to `256`.
        ensemble_size: int. Number of generators `N`. Defaults to `4`.
        generator_rounds: int. Rounds of stage 1. Defaults to `2000`.
        joint: bool. Also train the student during stage 1 (on the
            ensemble's current images). Defaults to `False`.
        student_steps: int. Student steps per round. Defaults to `5`.
        latent_dim: int. Defaults to `100`.
        generator_width: int. See `Generator.luo`. Defaults to `64`.
        separable: bool. Depthwise-separable generator convolutions.
            Defaults to `False`.
        batch_norm_weight: float. `bn`. Defaults to `1.0`.
        one_hot_weight: float. `oh`. Defaults to `1.0`.
        temperature: float. `tau`. Defaults to `20.0`.
        augmentation: `"auto"`, `None` or a layer applied to the images
            before the networks see them. `"auto"` is DeepInversion's
            random jitter (wrapped shift of up to 30/224 of the size) and
            flip for images of 64 px and more, none below. Defaults to
            `"auto"`.
        ensemble: `None` or a `keras_dfkd.generators.GeneratorEnsemble`
            to start from (e.g. trained earlier and reloaded); its image
            shape and classes must match the teacher. Defaults to `None`.
        generator_learning_rate: float. Adam(beta_1=0.5). Defaults to
            `1e-3`.
        student_optimizer, student_learning_rate, student_weight_decay,
            decay_rounds: see `Method` (SGD at `0.1`; the decay ends at
            0 and counts from the start of stage 2 unless `joint`).
            Default to `"auto"`, `None`, `5e-4` and `None`.
        seed: int or `None`. Defaults to `None`.
        **kwargs: standard layer arguments.

    Example:

    ```python
    method = keras_dfkd.methods.LargeScale(
        ensemble_size=4, generator_rounds=300, generator_width=16)
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=1000)            # 300 generator + 700 KD rounds
    method.generator.save("ensemble.keras")
    ```

    Reference:
        - [Luo et al., 2020. Large-Scale Generative Data-Free
          Distillation](https://arxiv.org/abs/2012.05578)
        - [Yin et al., 2020. DeepInversion](https://arxiv.org/abs/1912.08795)
    """

    requires_batch_norm = True
    # Several devices: on TensorFlow, each fit stays within one stage.
    supports_distribution = True
    presets = PRESETS["LargeScale"]

    paper_student_learning_rate = 0.1

    def __init__(
        self,
        batch_size=256,
        ensemble_size=4,
        generator_rounds=2000,
        joint=False,
        student_steps=5,
        latent_dim=100,
        generator_width=64,
        separable=False,
        batch_norm_weight=1.0,
        one_hot_weight=1.0,
        temperature=20.0,
        augmentation="auto",
        ensemble=None,
        generator_learning_rate=1e-3,
        student_optimizer="auto",
        student_learning_rate=None,
        student_weight_decay=5e-4,
        decay_rounds=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(batch_size=batch_size, seed=seed, **kwargs)
        check_int("ensemble_size", ensemble_size)
        if batch_size % ensemble_size:
            raise ValueError(
                f"`batch_size` ({batch_size}) must be a multiple of "
                f"`ensemble_size` ({ensemble_size}): each member makes an "
                "equal share of the batch."
            )
        ensemble = deserialize_layer(ensemble)
        GeneratorEnsemble.check_argument(ensemble, ensemble_size)
        self.store_arguments(
            locals(),
            positive=("student_steps", "decay_rounds"),
            non_negative=("generator_rounds",),
            augmentation=deserialize_layer(augmentation),
        )
        # The stage fixed at trace time, where repeats must be static.
        self._static_stage = None

    def build_synthesizer(self, teacher, student):
        if self.ensemble is None:
            self.generator = GeneratorEnsemble(
                self.image_shape,
                self.num_classes,
                size=self.ensemble_size,
                latent_dim=self.latent_dim,
                width=self.generator_width,
                separable=self.separable,
                input_range=self.input_range,
                name="generator",
            )
        else:
            self.ensemble.check_fits(teacher)
            self.generator = self.ensemble
        augmentation = self.augmentation
        if augmentation == "auto":
            augmentation = None
            if min(self.image_shape[:2]) >= LARGE_IMAGE_SIZE:
                augmentation = DifferentiableAugmentation(
                    padding=round(self.image_shape[0] * 30 / 224),
                    fill_mode="wrap",
                    seed=derived_seed(self.seed, 1),
                    name="augmentation",
                )
        self.set_augmentation(augmentation)
        self.add_round_counter()

    def default_optimizers(self):
        # The student optimizer counts student steps, which start with
        # stage 2 (or round 0 with `joint`).
        return {
            "generator": generator_adam(self.generator_learning_rate),
            "student": self.student_optimizer_instance(self.decay_rounds),
        }

    @property
    def phases(self):
        return [
            Phase.generator(
                self._generator_loss,
                when=self._generating,
                logs=(*objectives.BATCH_NORM_LOGS, "generator_loss"),
            ),
            Phase.student(
                self._student_loss,
                self.student_steps,
                when=None if self.joint else self._distilling,
            ),
        ]

    @property
    def first_student_round(self):
        return 0 if self.joint else self.generator_rounds

    def on_fit_begin(self, distiller, rounds):
        """Fixes the stage at trace time under a multi-replica TF strategy.

        There no step can be skipped inside the compiled step, so a fit
        runs in one stage and a new stage traces the step anew.
        """
        retrace = super().on_fit_begin(distiller, rounds)
        if not backend.needs_static_repeats(distiller):
            return retrace
        done = int(ops.convert_to_numpy(self.rounds))
        stage = 1 if done < self.generator_rounds else 2
        if stage == 1 and done + rounds > self.generator_rounds:
            raise ValueError(
                "On several TensorFlow replicas a LargeScale fit cannot "
                "cross from stage 1 to stage 2: the compiled step cannot "
                "switch stages there. Call fit(steps="
                f"{self.generator_rounds - done}) to finish stage 1, then "
                "fit again for stage 2."
            )
        changed = stage != self._static_stage
        self._static_stage = stage
        return changed or retrace

    def _generating(self):
        """Whether this round is in stage 1 (a bool or bool tensor).

        A Python bool when the stage is fixed at trace time.
        """
        if self._static_stage is not None:
            return self._static_stage == 1
        return ops.less(self.rounds, self.generator_rounds)

    def _distilling(self):
        generating = self._generating()
        if isinstance(generating, bool):
            return not generating
        return ops.logical_not(generating)

    def sample_labels(self, batch_size):
        """Class-balanced labels: `(offset + arange(batch_size)) % K`.

        The random offset lets every class appear over the steps when the
        batch is smaller than the number of classes.
        """
        offset = keras.random.randint(
            (), 0, self.num_classes, dtype="int32", seed=self.seed_generator
        )
        labels = (ops.arange(batch_size, dtype="int32") + offset) % (
            self.num_classes
        )
        return self.distribute_batch(labels)

    def _generator_loss(self, student):
        del student  # Stage 1 reads the teacher only.
        share = self.batch_size // self.ensemble_size
        # Member-major order: member i makes share i (on every device).
        noise = ops.concatenate(
            [self.sample_noise(share) for _ in range(self.ensemble_size)]
        )
        labels = ops.concatenate(
            [self.sample_labels(share) for _ in range(self.ensemble_size)]
        )
        return objectives.batch_norm_objective(
            self.teacher,
            self.augment(self.generator([noise, labels], training=True)),
            losses.batch_norm_statistics_loss,
            labels=labels,
            members=self.ensemble_size,
            batch_norm_weight=self.batch_norm_weight,
            one_hot_weight=self.one_hot_weight,
        )

    def sample_member(self):
        """A uniformly drawn member index (scalar int tensor)."""
        return keras.random.randint(
            (), 0, self.ensemble_size, dtype="int32", seed=self.seed_generator
        )

    def _student_loss(self, student):
        noise = self.sample_noise()
        labels = self.sample_labels(self.batch_size)
        images = self.generator(
            [noise, labels], member=self.sample_member(), training=False
        )
        images = self.augment(ops.stop_gradient(images))
        return self.distillation_loss(
            images, student, temperature=self.temperature
        )

    def generate(self, batch_size, training=False):
        """`batch_size` images, the members taking turns by share."""
        share = -(-batch_size // self.ensemble_size)
        labels = ops.arange(share, dtype="int32") % self.num_classes
        images = [
            self.generator(
                [self.sample_noise(share), labels], member=i, training=training
            )
            for i in range(self.ensemble_size)
        ]
        return ops.concatenate(images)[:batch_size]
