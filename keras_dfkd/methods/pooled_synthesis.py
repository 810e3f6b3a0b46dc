"""`PooledSynthesis`: one synthesised batch per round, a pool, the student."""

from keras import ops

from keras_dfkd import losses
from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.layers.best_batch import BestBatch
from keras_dfkd.layers.differentiable_augmentation import (
    DifferentiableAugmentation,
)
from keras_dfkd.layers.to_input_range import ToInputRange
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.phase import Phase
from keras_dfkd.replay.image_pool import ImagePool
from keras_dfkd.utils.arguments import derived_seed
from keras_dfkd.utils.arguments import deserialize_layer

#: The strings an `augmentation` argument takes besides a layer or `None`.
AUGMENTATIONS = ("auto", "crop")


def check_augmentation(augmentation):
    """The `augmentation` argument, its layer config deserialized.

    Raises:
        ValueError: for an unknown augmentation name.
    """
    augmentation = deserialize_layer(augmentation)
    if isinstance(augmentation, str) and augmentation not in AUGMENTATIONS:
        raise ValueError(
            "`augmentation` must be 'auto', 'crop', None or a layer; "
            f"received {augmentation!r}."
        )
    return augmentation


@keras_dfkd_export("keras_dfkd.methods.PooledSynthesis")
class PooledSynthesis(Method):
    """Base of the methods whose student learns from a pool of batches.

    NAYER, DeepInversion, CMI and Fast share one round (the loop of the
    "datafree" code they all come from): synthesise one batch by
    `generator_steps` steps from a fresh start, keep its lowest-loss
    images in a `keras_dfkd.replay.ImagePool`, then train the student on
    the pool:

    ```
    new_batch()                            # the subclass's fresh start
    zero the "generator" group's optimizer slots
    repeat generator_steps:
        x, L = synthesis_loss(student)     # the subclass's objective
        keep x if L is the lowest loss of this batch;  step on L
    pool.add(lowest-loss x);  fold the batch statistics into the EMA
    if round >= warmup_rounds, repeat student_steps:
        x ~ pool;  L_S = KL(softmax(T(x')/tau) || softmax(S(x')/tau)) tau^2
    ```

    with `x' = to_input_range(augment(x))`. Images are pixels in [0, 1]
    (what the pool stores) until `to_input_range` maps them into the
    teacher's domain. The pool, the lowest-loss batch and the round count
    are variables, so all of it runs inside the compiled step and is saved
    with checkpoints.

    A subclass keeps, as attributes of their names, `batch_size`,
    `generator_steps`, `student_steps`, `student_batch_size`,
    `warmup_rounds`, `batch_norm_momentum`, `temperature`,
    `augmentation`, `pool_capacity`, `pool_policy`, `pool_dtype` and
    the student-optimizer arguments (`Method`), and implements:

    - `build_synthesizer(teacher, student)`: its synthesiser, then
      `self.build_pool()`;
    - `new_batch()`: re-initialise the synthesiser for a new batch;
    - `synthesis_loss(student)`: `(images, loss, logs)` of one step, the
      images in pixels, the logs named in `synthesis_logs` (most add
      their own terms to `teacher_objective`);
    - `current_images(training)`: the synthesiser's current batch, in
      pixels;
    - `default_optimizers()`.
    """

    requires_batch_norm = True

    #: What `synthesis_loss` logs.
    synthesis_logs = ()

    #: The variable groups the synthesis steps train.
    synthesis_groups = ("generator",)

    #: Those of them whose optimizers start afresh for every batch.
    fresh_groups = ("generator",)

    def build_pool(self):
        """Creates the input mapping, BN loss, pool, augmentation, counter."""
        # The synthesiser and the pool hold pixels in [0, 1]; the teacher
        # and the student see them mapped into the teacher's domain.
        self.to_input_range = ToInputRange(
            self.input_range, name="to_input_range"
        )
        self.to_input_range.build((None,) + self.image_shape)
        self.batch_norm_loss = losses.BatchNormStatisticsLoss(
            momentum=self.batch_norm_momentum, name="batch_norm_loss"
        )
        self.batch_norm_loss.build(self.teacher.batch_norm_input_shapes)
        self.pool = ImagePool(
            self.pool_capacity,
            self.image_shape,
            storage_dtype=self.pool_dtype,
            policy=self.pool_policy,
            seed=derived_seed(self.seed, 1),
            name="pool",
        )
        self.set_augmentation(self.make_augmentation(self.augmentation))
        self.add_round_counter()
        self.best = BestBatch(self.image_shape, self.batch_size, name="best")
        self.best.build()

    def make_augmentation(
        self, augmentation, seed_offset=2, name="augmentation", **options
    ):
        """`"auto"`/`"crop"`: pad-and-crop by 1/8 (+ flip); else as given.

        `"auto"` is the CIFAR harness's crop and horizontal flip, `"crop"`
        the crop alone (for classes mirroring changes, such as digits).
        `options` go to `DifferentiableAugmentation` (e.g. DeepInversion's
        `fill_mode="wrap"` jitter).
        """
        if augmentation not in AUGMENTATIONS:
            return augmentation
        return DifferentiableAugmentation(
            padding=max(1, self.image_shape[0] // 8),
            flip=augmentation == "auto",
            seed=derived_seed(self.seed, seed_offset),
            name=name,
            **options,
        )

    @property
    def replay(self):
        """The method's `ImagePool` (built by `setup`)."""
        return getattr(self, "pool", None)

    def new_batch(self):
        raise NotImplementedError

    def synthesis_loss(self, student):
        raise NotImplementedError

    def end_batch(self):
        """Runs after the batch is pooled (e.g. to keep its features)."""

    @property
    def phases(self):
        return [
            Phase(
                "generator",
                self.synthesis_groups,
                self._synthesis_step,
                repeats=self.generator_steps,
                begin=self._begin_synthesis,
                end=self._end_synthesis,
                reset_optimizer=self.fresh_groups,
                logs=(*self.synthesis_logs, "generator_loss", "best_loss"),
                gauges=("pool_images", "pool_bytes"),
            ),
            Phase.student(
                self._student_loss,
                self.student_steps,
                when=self.warm if self.warmup_rounds > 0 else None,
            ),
        ]

    @property
    def first_student_round(self):
        return self.warmup_rounds

    def warm(self):
        """Whether the warm-up is over (a scalar bool tensor)."""
        return ops.greater_equal(self.rounds, self.warmup_rounds)

    def _begin_synthesis(self):
        self.new_batch()
        self.best.reset()

    def _synthesis_step(self, student):
        images, loss, logs = self.synthesis_loss(student)
        # Scored before the step that follows, as the reference code does.
        self.best.update(images, loss)
        return loss, logs

    def _end_synthesis(self):
        self.pool.add(self.best.images)
        self.end_batch()
        self.batch_norm_loss.update_ema()
        pool_images = ops.cast(self.pool.size(), "float32")
        return {
            "best_loss": self.best.loss.value,
            "pool_images": pool_images,
            "pool_bytes": pool_images
            * (self.pool.memory_bytes / self.pool_capacity),
        }

    def _student_loss(self, student):
        images = self.pool.sample(self.student_batch_size)
        inputs = self.to_input_range(self.augment(images))
        return self.distillation_loss(
            inputs, student, temperature=self.temperature
        )

    def default_student_optimizer(self):
        """The student's optimizer, decaying to `min_student_learning_rate`."""
        return self.student_optimizer_instance(
            self.decay_rounds, self.min_student_learning_rate
        )

    def current_images(self, training=False):
        raise NotImplementedError

    def teacher_objective(self, inputs, labels, student, **options):
        """The BN-statistics objective at the method's own weights.

        `objectives.batch_norm_objective` on `inputs` (in the teacher's
        domain) with the method's `batch_norm_weight`, `one_hot_weight`
        and `adversarial_weight`; `options` (`adversarial`,
        `adversarial_scale`, `teacher_out`) pass through.
        """
        return objectives.batch_norm_objective(
            self.teacher,
            inputs,
            self.batch_norm_loss,
            labels=labels,
            student=student,
            batch_norm_weight=self.batch_norm_weight,
            one_hot_weight=self.one_hot_weight,
            adversarial_weight=self.adversarial_weight,
            **options,
        )

    def generate(self, batch_size, training=False):
        """Images from the pool (the student's data), in the teacher's domain.

        Before the first round, with an empty pool, the synthesiser's
        current batch, repeated up to `batch_size`.
        """
        if int(ops.convert_to_numpy(self.pool.size())) == 0:
            repeats = -(-batch_size // self.batch_size)
            images = self.current_images(training)
            images = ops.concatenate([images] * repeats)[:batch_size]
        else:
            images = self.pool.sample(batch_size)
        return self.to_input_range(images)
