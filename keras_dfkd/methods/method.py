"""Base class of data-free distillation methods."""

import warnings

import keras
from keras import ops

from keras_dfkd import backend
from keras_dfkd import objectives
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.backend import keras_shims
from keras_dfkd.methods.phase import Phase
from keras_dfkd.optimizers import ADAM_STUDENT_LEARNING_RATE
from keras_dfkd.optimizers import RunLengthCosineDecay
from keras_dfkd.optimizers import check_student_optimizer
from keras_dfkd.optimizers import cosine_or_constant
from keras_dfkd.optimizers import make_student_optimizer
from keras_dfkd.optimizers import resolve_student_optimizer
from keras_dfkd.teacher import all_layers
from keras_dfkd.utils.arguments import config_value
from keras_dfkd.utils.arguments import constructor_arguments
from keras_dfkd.utils.arguments import store_arguments


@keras_dfkd_export("keras_dfkd.methods.Method")
class Method(keras.layers.Layer):
    """A data-free distillation method: synthesiser, losses and schedule.

    A method is a configuration of shared parts, not a training loop. The
    `DataFreeDistiller` calls `setup()` once with the frozen teacher and the
    student, then runs each round as the method's `phases`: each
    `keras_dfkd.methods.Phase` carries its loss (written in `keras.ops`),
    its step count and its hooks, and the distiller applies the loss's
    gradients with the optimizers of the phase's variable groups. The
    backend-specific gradient plumbing lives in `keras_dfkd.backend`.

    Subclasses implement `build_synthesizer`, `default_optimizers` and
    `phases` (each phase names what it logs), and keep every constructor
    argument as the attribute of its name (`store_arguments`), which
    `get_config` reads.

    The student-optimizer arguments mean the same in every method that
    takes them:

    - `student_optimizer`: `"auto"` (`"sgd"` when the student has
      BatchNorm layers, `"adam"` when it has none, whose plain layers
      diverge at the papers' SGD rates), `"sgd"` (momentum 0.9, the
      papers'), `"sgd_l2"` (the same with PyTorch's coupled weight decay,
      `keras_dfkd.optimizers.CoupledWeightDecaySGD`) or `"adam"`.
    - `student_learning_rate`: float or `None` (the paper's rate,
      `paper_student_learning_rate`, for SGD; `1e-3` for Adam).
    - `student_weight_decay`: float, SGD's: decoupled from the gradient
      as Keras applies it with `"sgd"`, which at momentum 0.9 decays about
      ten times less than PyTorch's SGD, which adds it to the gradient
      (`"sgd_l2"`).
    - `decay_rounds`: int, `"fit"` or `None`. Rounds of cosine decay of
      the student learning rate, counting rounds with student steps;
      `"fit"` spans the student rounds of the first `fit` (its `steps`
      less any warm-up), as the papers' schedules span their runs
      (`keras_dfkd.optimizers.RunLengthCosineDecay`); `None` keeps it
      constant.

    Args:
        batch_size: int. Synthetic images per step.
        seed: int or `None`. Seed of the method's `SeedGenerator`, the
            source of all its noise.
        **kwargs: standard layer arguments such as `name`.
    """

    #: Whether the method reads the teacher's BatchNormalization statistics.
    requires_batch_norm = False

    #: Named settings for `from_preset`: `{name: constructor arguments}`,
    #: the method's entry of `keras_dfkd.presets.PRESETS` (the one home of
    #: every setting; its docstring says what the names mean).
    presets = {}

    @classmethod
    def from_preset(cls, preset, **overrides):
        """A method with the named settings, `overrides` on top.

        Args:
            preset: str, a key of the class's `presets`.
            **overrides: constructor arguments that replace the preset's.

        Returns:
            A new instance.

        Example:

        ```python
        method = keras_dfkd.methods.NAYER.from_preset(
            "nayer_cpu", class_names=names, seed=0)
        ```
        """
        if preset not in cls.presets:
            raise ValueError(
                f"{cls.__name__} has no preset {preset!r}; its presets are "
                f"{sorted(cls.presets)}."
            )
        return cls(**{**cls.presets[preset], **overrides})

    #: Whether the method runs data-parallel on several devices (a
    #: `keras.distribution` on JAX, a `tf.distribute` strategy on
    #: TensorFlow). A method that sets it draws every batch tensor through
    #: `sample_noise` / `distribute_batch` and keeps no per-replica buffers.
    supports_distribution = False

    def __init__(self, batch_size, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"`batch_size` must be a positive int; received {batch_size!r}."
            )
        self.batch_size = batch_size
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.teacher = None
        self.rounds = None
        self._augmentation = None

    def store_arguments(
        self, values, positive=(), non_negative=(), optional=(), **replaced
    ):
        """Checks the constructor's arguments and keeps each as an attribute.

        Call it at the end of `__init__` with `locals()`; see
        `keras_dfkd.utils.arguments.store_arguments`. The names in
        `optional` (and `decay_rounds`) may also be `None` (`decay_rounds`
        also `"fit"`). A `student_optimizer` argument is checked too.
        """
        optional = (*optional, "decay_rounds")
        positive = tuple(
            n
            for n in positive
            if not (n in optional and values.get(n) in (None, "fit"))
        )
        store_arguments(self, values, positive, non_negative, **replaced)
        if hasattr(self, "student_optimizer"):
            check_student_optimizer(self.student_optimizer)

    def setup(self, teacher, student):
        """Creates the method's models for this teacher/student pair.

        Args:
            teacher: a `keras_dfkd.teacher.Teacher`.
            student: the student `keras.Model`.
        """
        if self.teacher is not None:
            raise ValueError(
                f"This {type(self).__name__} instance already belongs to a "
                "DataFreeDistiller; create a new method object for each "
                "distiller."
            )
        if self.requires_batch_norm:
            teacher.require_batch_norm(type(self).__name__)
        self.teacher = teacher
        self.num_classes = teacher.num_classes
        self.image_shape = teacher.input_shape
        # Generators make images in the teacher's domain (InputRange).
        self.input_range = teacher.input_range
        self.student_has_batch_norm = any(
            isinstance(layer, keras.layers.BatchNormalization)
            for layer in all_layers(student)
        )
        self.build_synthesizer(teacher, student)
        self.built = True

    def build_synthesizer(self, teacher, student):
        raise NotImplementedError

    #: The student's SGD learning rate in the method's paper, used when
    #: `student_learning_rate` is `None` and the student trains with SGD.
    paper_student_learning_rate = 0.1

    def resolved_student_optimizer(self):
        """`"sgd"`, `"sgd_l2"` or `"adam"`: the optimizer for this student."""
        return resolve_student_optimizer(
            self.student_optimizer,
            getattr(self, "student_has_batch_norm", True),
        )

    def resolved_student_learning_rate(self):
        """`student_learning_rate`, or the default of the optimizer."""
        if self.student_learning_rate is not None:
            return self.student_learning_rate
        if self.resolved_student_optimizer() != "adam":
            return self.paper_student_learning_rate
        return ADAM_STUDENT_LEARNING_RATE

    def student_optimizer_instance(
        self, decay_rounds=None, min_learning_rate=0.0
    ):
        """The default student optimizer, its rate constant or decaying.

        Args:
            decay_rounds: int or `None`. Rounds of cosine decay, of
                `student_steps` optimizer steps each (`None`: constant).
            min_learning_rate: float. Where the decay ends.
        """
        rate = self.resolved_student_learning_rate()
        return make_student_optimizer(
            self.resolved_student_optimizer(),
            cosine_or_constant(
                rate,
                decay_rounds,
                self.student_steps,
                final_fraction=min(1.0, min_learning_rate / rate),
            ),
            self.student_weight_decay,
        )

    def default_optimizers(self):
        """Returns `{group: optimizer}` with the paper's defaults."""
        raise NotImplementedError

    #: The method's replay memory (a `keras_dfkd.replay.Replay`), if any.
    replay = None

    def trainable_groups(self, student):
        """Returns `{group: variables}`; the student is always a group.

        A learned replay memory adds the group `"replay"`.
        """
        groups = {
            "generator": self.generator.trainable_variables,
            "student": student.trainable_variables,
        }
        if self.replay is not None and self.replay.learns:
            groups["replay"] = self.replay.trainable_variables
        return groups

    def replay_optimizers(self):
        """`{"replay": optimizer}` for a learned replay memory, else `{}`.

        The distiller adds it to `default_optimizers()`.
        """
        if self.replay is not None and self.replay.learns:
            return {"replay": self.replay.default_optimizer()}
        return {}

    def replay_phases(self, steps, memory_batch_size):
        """`[Phase("replay", ...)]` of `steps` steps for a learned memory.

        Each step trains the memory on half a batch of new generator
        images plus `memory_batch_size` of its own replayed samples.
        """
        if self.replay is None or not self.replay.learns:
            return []

        def loss(student):
            del student
            images = self.generator(
                self.sample_noise(self.batch_size // 2), training=True
            )
            return self.replay.training_loss(images, memory_batch_size)

        return [
            Phase(
                "replay",
                ("replay",),
                loss,
                repeats=steps,
                logs=self.replay.log_names,
            )
        ]

    @property
    def phases(self):
        """The round: a list of `Phase`s, each with its loss and hooks."""
        raise NotImplementedError

    @property
    def log_names(self):
        """Names of the scalars the phases log, in round order."""
        names = [n for p in self.phases for n in (*p.logs, *p.gauges)]
        return list(dict.fromkeys(names))

    @property
    def gauge_names(self):
        """Log names reported as their latest value, not a running mean."""
        return [name for phase in self.phases for name in phase.gauges]

    #: The round from which the student trains (e.g. after a warm-up).
    first_student_round = 0

    def on_fit_begin(self, distiller, rounds):
        """Called eagerly by `fit` before `rounds` rounds.

        Warns when the student would not train at all by the end of the
        fit (`first_student_round`). Returns `True` when the compiled step
        must be traced anew (e.g. a method whose phase plan is fixed at
        trace time changed stage).
        """
        done = (
            0 if self.rounds is None else int(ops.convert_to_numpy(self.rounds))
        )
        student_rounds = done + rounds - self.first_student_round
        if self.first_student_round and self.rounds is not None:
            end = done + rounds
            if end <= self.first_student_round:
                warnings.warn(
                    f"{type(self).__name__} trains the student from round "
                    f"{self.first_student_round} on, but after this fit "
                    f"{end} rounds will have run: the student will not be "
                    "trained at all. Fit for more rounds or start the "
                    "student sooner (fewer warm-up or generator rounds).",
                    stacklevel=3,
                )
        return self._fit_run_length_schedule(distiller, student_rounds)

    def _fit_run_length_schedule(self, distiller, student_rounds):
        """Sets an open `RunLengthCosineDecay`'s length for this fit.

        Returns whether it was set (the step is then traced anew).
        """
        optimizer = distiller.optimizers.get("student")
        schedule = keras_shims.learning_rate_schedule(optimizer)
        if not isinstance(schedule, RunLengthCosineDecay):
            return False
        steps = max(student_rounds, 1) * getattr(self, "student_steps", 1)
        if schedule.decay_steps is None:
            schedule.decay_steps = steps
            return True
        if steps > schedule.decay_steps:
            warnings.warn(
                "The student's learning rate follows the length of the first "
                f"fit ({schedule.decay_steps} steps); this fit goes past its "
                "end and trains at the final rate. Set `decay_rounds` to the "
                "whole run's rounds to decay over all of it.",
                stacklevel=4,
            )
        return False

    def after_round(self):
        """Updates method state once per round (runs inside the step).

        Counts the round in `rounds` when the method has the counter; an
        override calls `super().after_round()`.
        """
        if self.rounds is not None:
            self.rounds.assign_add(1)

    def generate(self, batch_size, training=False):
        """Returns a batch of synthetic images (e.g. for image grids)."""
        noise = self.sample_noise(batch_size)
        return self.generator(noise, training=training)

    # Helpers shared by the methods.

    def add_round_counter(self):
        """Adds `self.rounds`, the int32 count of finished rounds.

        Call it in `build_synthesizer`; `after_round` counts. It is saved
        with the method, so schedules that read it resume where they
        stopped.
        """
        self.rounds = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="rounds",
        )

    def use_teacher_features(self, teacher):
        """Reads the teacher's features at `self.feature_layer`, or refuses.

        For methods with DAFL's activation term; see
        `keras_dfkd.teacher.Teacher.use_feature_layer`.
        """
        teacher.use_feature_layer(self.feature_layer)
        if not teacher.has_features:
            raise ValueError(
                f"{type(self).__name__}'s activation loss reads the "
                "teacher's features (the input of its classifier head), but "
                f"the teacher {teacher.model.name!r} has no layer before its "
                "output. Pass `feature_layer`, the name of the layer whose "
                "output to read."
            )

    def set_augmentation(self, augmentation):
        """Builds `augmentation` (a layer or `None`) for `augment`."""
        self._augmentation = augmentation
        if augmentation is not None and not augmentation.built:
            # Keras re-traces a model with unbuilt sublayers on dummy data.
            augmentation.build((None,) + self.image_shape)

    def augment(self, images):
        """The set augmentation in training mode, or `images` unchanged."""
        if self._augmentation is None:
            return images
        return self._augmentation(images, training=True)

    def sample_noise(self, batch_size=None):
        """Draws generator noise, split over devices like a data batch.

        Args:
            batch_size: int or `None`. The global number of samples;
                defaults to `self.batch_size`.

        Returns:
            Noise of shape `(batch_size, latent_dim)`, passed through
            `distribute_batch`.
        """
        noise = keras.random.normal(
            (batch_size or self.batch_size, self.generator.latent_dim),
            seed=self.seed_generator,
        )
        return self.distribute_batch(noise)

    def distribute_batch(self, x):
        """Splits a batch tensor drawn inside the step over the devices.

        Call it on every batch tensor a method draws itself (noise, sampled
        labels): on JAX under a `keras.distribution` it shards `x` on the
        batch axis; on TensorFlow inside a multi-replica strategy it
        returns this replica's slice, so that replicas see distinct samples
        whose union is the single-device batch. On one device it returns
        `x` unchanged.

        Args:
            x: a tensor whose first axis is the (global) batch.

        Returns:
            The distributed tensor.
        """
        return backend.distribute_batch(x)

    def distillation_loss(
        self,
        images,
        student,
        divergence="kl",
        temperature=1.0,
        memory_batch_size=0,
    ):
        """One student step's `(loss, logs)` on `images` (no gradient to them).

        With `memory_batch_size`, the images are offered to the method's
        `replay` memory and that many replayed images join the batch. The
        teacher runs in inference mode, the student in training mode; see
        `keras_dfkd.objectives.distillation_objective`.
        """
        if memory_batch_size:
            self.replay.add(images)
            images = ops.concatenate(
                [images, self.replay.sample(memory_batch_size)], axis=0
            )
        teacher_logits = self.teacher(images)["logits"]
        student_logits = student(images, training=True)
        return objectives.distillation_objective(
            teacher_logits, student_logits, divergence, temperature
        )

    def distill_generated(
        self, student, divergence="kl", temperature=1.0, memory_batch_size=0
    ):
        """`distillation_loss` on a fresh, detached, augmented generator batch.

        The student step of the methods whose student learns from the
        generator's current images (DFAD, PRE-DFKD, the BN-statistics
        generator).
        """
        images = self.generator(self.sample_noise(), training=True)
        return self.distillation_loss(
            self.augment(ops.stop_gradient(images)),
            student,
            divergence,
            temperature,
            memory_batch_size,
        )

    def get_config(self):
        """The layer config plus every constructor argument.

        Each argument is read from the attribute of the same name, which
        every method keeps; layers are serialized and arrays become lists.
        """
        config = super().get_config()
        for name in constructor_arguments(type(self)):
            config[name] = config_value(getattr(self, name))
        return config
