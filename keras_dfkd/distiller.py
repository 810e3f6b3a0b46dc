"""`DataFreeDistiller`: distil a teacher into a student without data."""

import os

import keras
import numpy as np

from keras_dfkd import backend
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.backend import DistillerStep
from keras_dfkd.callbacks.non_finite_guard import NonFiniteGuard
from keras_dfkd.callbacks.student_batch_norm_calibration import (
    StudentBatchNormCalibration,
)
from keras_dfkd.callbacks.student_progress import StudentProgress
from keras_dfkd.methods.method import Method
from keras_dfkd.teacher import Teacher
from keras_dfkd.teacher import all_layers

SUPPORTED_BACKENDS = ("tensorflow", "jax")

_SEED_KEY = "seed_generator_state_"


class _GroupSelector:
    """Maps each trainable variable to its group's optimizer (by identity)."""

    def __init__(self, optimizer_by_variable_id):
        self._optimizers = optimizer_by_variable_id

    def __call__(self, variable):
        return self._optimizers[id(variable)]


@keras_dfkd_export("keras_dfkd.DataFreeDistiller")
class DataFreeDistiller(DistillerStep, keras.Model):
    """Distils a frozen teacher into a student with synthetic data only.

    The teacher is frozen at construction and always runs in inference
    mode; a `method` (DAFL, DFAD, BNStatistics, ...) says how images are
    synthesised and how every network learns. One call of `train_step` is
    one round of the method's phases, so `fit(steps=N)` runs N rounds with
    Keras's progress bar and callbacks. All optimizers live in one
    `keras.optimizers.MultiOptimizer`, so JAX carries their state and
    checkpoints restore it; all randomness comes from `SeedGenerator`s
    attached to the model.

    Several devices: methods with `supports_distribution = True`
    (`BNStatistics`, `DFAD` without replay) train data-parallel. The
    method's `batch_size` is the global batch, split evenly over the
    devices (it must divide by their number). On JAX, set a
    `keras.distribution` before creating any Keras object, teacher
    included; the sharded computation equals the single-device one:

    ```python
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        devices=keras.distribution.list_devices()))
    teacher = keras.saving.load_model("teacher.keras")
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    distiller.fit(steps=1000)
    ```

    On TensorFlow, create and compile everything in a
    `tf.distribute.MirroredStrategy` scope:

    ```python
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        teacher = keras.saving.load_model("teacher.keras")
        student = keras_dfkd.models.lenet5_half()
        distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
        distiller.compile()
    distiller.fit(steps=1000)
    ```

    Each replica then draws distinct samples (together the single-device
    batch) and the BN-statistics loss uses global-batch moments, but, as
    usual with `MirroredStrategy`, the generator's and student's
    BatchNormalization layers normalise with their replica's statistics,
    so results differ slightly from one device.

    The teacher's input domain. Generators make images in the domain the
    teacher was trained on, given once by `input_range` for every method:
    `(0, 1)`, `(-1, 1)`, `(0, 255)`, a per-channel standardisation of
    [0, 1] pixels `((mean, ...), (std, ...))`, or a `keras_dfkd.
    InputRange`. Without it the teacher is asked: a `Rescaling` or
    `Normalization` first layer (its input is then raw pixels) or a
    keras-hub image converter says where its inputs live. Failing both,
    the domain is `InputRange.standardized()` (per-channel standardised
    images, the convention of the DAFL/DFAD papers and of this project's
    recipe teachers), and a warning names `input_range` when the
    teacher's first BatchNorm statistics point elsewhere
    (`keras_dfkd.input_range_detection`). `distiller.input_range` says
    what was chosen; `generate()` returns images in that domain.

    Args:
        teacher: a built Functional or Sequential `keras.Model` mapping
            images `(N, H, W, C)` to logits `(N, K)`; nested base models
            (`x = base(inputs)`) are fine.
        student: a `keras.Model` with the same input shape and `K` outputs.
        method: a `keras_dfkd.methods.Method` instance.
        input_range: `None` (ask the teacher, else standardised) or the
            domain of the teacher's training images, anything
            `keras_dfkd.InputRange.get` reads. Defaults to `None`.
        **kwargs: standard model arguments such as `name`.

    Example:

    ```python
    teacher = keras.saving.load_model("teacher.keras")
    student = keras_dfkd.models.lenet5_half()
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student, method=keras_dfkd.methods.DFAD(batch_size=256),
        input_range=(0, 1))              # the teacher was trained on [0, 1]
    distiller.compile()                  # the method's optimizers
    distiller.fit(steps=1000)            # 1000 rounds, no data
    distiller.student.save("student.keras")
    ```
    """

    def __init__(self, teacher, student, method, input_range=None, **kwargs):
        kwargs.setdefault("name", "data_free_distiller")
        if keras.config.backend() not in SUPPORTED_BACKENDS:
            raise ValueError(
                "keras_dfkd supports the 'tensorflow' and 'jax' backends; "
                f"the active Keras backend is {keras.config.backend()!r}. "
                "Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax."
            )
        super().__init__(**kwargs)
        if isinstance(teacher, dict):
            teacher = keras.saving.deserialize_keras_object(teacher)
        if isinstance(student, dict):
            student = keras.saving.deserialize_keras_object(student)
        if isinstance(method, dict):
            method = keras.saving.deserialize_keras_object(method)
        if not isinstance(method, Method):
            raise TypeError(
                "`method` must be a keras_dfkd.methods.Method such as "
                "keras_dfkd.methods.DFAD(); received "
                f"{type(method).__name__}."
            )
        self._check_distribution(method)
        # A failed construction must leave the user's teacher as it was.
        trainable = [(layer, layer.trainable) for layer in _layers(teacher)]
        try:
            self._teacher = Teacher(teacher, input_range)
            self._check_student(student)
            self.teacher = teacher
            self.student = student
            self.method = method
            method.setup(self._teacher, student)
        except BaseException:
            for layer, flag in trainable:
                layer.trainable = flag
            raise
        self.input_range = self._teacher.input_range
        names = list(method.log_names)
        if "student_loss" in names:
            names.append("loss")
        self._trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.built = True

    def _check_distribution(self, method):
        devices = backend.num_devices(self)
        if devices > 1 and not method.supports_distribution:
            raise ValueError(
                f"{type(method).__name__} does not support training on "
                f"several devices, but the active distribution spans "
                f"{devices}: its `supports_distribution` is False because "
                "it keeps per-batch state (a replay memory, per-batch "
                "latents) that would diverge across devices. Run it on one "
                "device: create the distiller without "
                "keras.distribution.set_distribution(...) on JAX, or "
                "outside the tf.distribute strategy scope on TensorFlow. "
                "BNStatistics and DFAD (without replay) support several "
                "devices."
            )

    def _check_student(self, student):
        if not isinstance(student, keras.Model):
            raise TypeError(
                "The student must be a keras.Model; received "
                f"{type(student).__name__}."
            )
        if student is self._teacher.model:
            raise ValueError(
                "The student is the teacher itself; pass a separate model "
                "to learn into."
            )
        if not student.built:
            student.build((None,) + self._teacher.input_shape)
        if not student.trainable_variables:
            raise ValueError(
                f"The student {student.name!r} has no trainable variables "
                "(student.trainable is "
                f"{student.trainable}): distillation would change nothing. "
                "Set student.trainable = True (and unfreeze its layers) "
                "before creating the distiller."
            )
        probe = keras.KerasTensor((2,) + self._teacher.input_shape)
        try:
            out = student.compute_output_spec(probe)
        except Exception as error:
            raise ValueError(
                "The student cannot take the teacher's input shape "
                f"{self._teacher.input_shape}: {error}"
            ) from error
        if len(out.shape) != 2 or out.shape[-1] != self._teacher.num_classes:
            raise ValueError(
                f"The student's output shape {tuple(out.shape)} does not "
                f"match the teacher's ({self._teacher.num_classes} classes): "
                "build the student with "
                f"num_classes={self._teacher.num_classes}."
            )

    def call(self, inputs, training=False):
        """Runs the student."""
        return self.student(inputs, training=training)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def compile(
        self,
        generator_optimizer=None,
        student_optimizer=None,
        optimizers=None,
        jit_compile="auto",
        run_eagerly=False,
    ):
        """Configures the optimizers; defaults are the method's paper values.

        Args:
            generator_optimizer: optimizer (or identifier) of the
                `"generator"` group; overrides the method's default.
            student_optimizer: optimizer (or identifier) of the
                `"student"` group.
            optimizers: dict `{group: optimizer}` for any group, e.g. a
                method's `"vae"`.
            jit_compile: as in `keras.Model.compile`. Defaults to `"auto"`.
            run_eagerly: as in `keras.Model.compile`. Defaults to `False`.
        """
        policies = (self.dtype_policy, self.method.dtype_policy)
        if any(p.compute_dtype == "float16" for p in policies):
            # Keras wraps a float16 model's optimizer in a loss-scaling
            # one; the distiller's own step applies each group's optimizer
            # and would underflow float16 gradients without scaling.
            raise ValueError(
                "DataFreeDistiller supports mixed precision with "
                "keras.config.set_dtype_policy('mixed_bfloat16'), not "
                "float16 (its gradients need loss scaling, which the "
                "distiller does not do). Use 'mixed_bfloat16' or float32."
            )
        chosen = self.method.default_optimizers()
        chosen.update(self.method.replay_optimizers())
        given = dict(optimizers or {})
        if generator_optimizer is not None:
            given["generator"] = generator_optimizer
        if student_optimizer is not None:
            given["student"] = student_optimizer
        unknown = sorted(set(given) - set(chosen))
        if unknown:
            raise ValueError(
                f"{type(self.method).__name__} has no optimizer group(s) "
                f"{unknown}; its groups are {sorted(chosen)}."
            )
        chosen.update(given)
        chosen = {g: keras.optimizers.get(o) for g, o in chosen.items()}
        if len({id(o) for o in chosen.values()}) != len(chosen):
            raise ValueError(
                "Each variable group needs its own optimizer instance; the "
                "same optimizer object was given for several groups."
            )
        groups = self.method.trainable_groups(self.student)
        by_variable = {}
        for name, variables in groups.items():
            for v in variables:
                if id(v) in by_variable:
                    raise ValueError(
                        f"Variable {v.path} belongs to two groups."
                    )
                by_variable[id(v)] = chosen[name]
        stray = [
            v.path for v in self.trainable_variables if id(v) not in by_variable
        ]
        if stray:
            raise ValueError(
                "These trainable variables belong to no optimizer group: "
                f"{stray}. The teacher must stay frozen."
            )
        multi = keras.optimizers.MultiOptimizer(_GroupSelector(by_variable))
        multi.build(self.trainable_variables)
        super().compile(
            optimizer=multi, jit_compile=jit_compile, run_eagerly=run_eagerly
        )
        self._group_optimizers = chosen
        self._jit_compile_arg = jit_compile
        self._phase_plans = self.plan_phases(groups)

    @property
    def optimizers(self):
        """Dict `{group: optimizer}` after `compile()`."""
        return dict(getattr(self, "_group_optimizers", {}))

    def fit(
        self,
        x=None,
        y=None,
        *,
        steps=None,
        epochs=None,
        steps_per_epoch=None,
        callbacks=None,
        verbose="auto",
        initial_epoch=0,
        **kwargs,
    ):
        """Runs data-free distillation for `steps` rounds.

        Three callbacks are always there unless you pass your own
        instance: `keras_dfkd.callbacks.NonFiniteGuard(raise_error=True)`
        (a loss term turning NaN or inf stops the run with a
        `FloatingPointError` naming it; pass `NonFiniteGuard(raise_error=
        False)` to stop without raising, or with `rollback=True` to restore
        the last finite epoch), `keras_dfkd.callbacks.
        StudentBatchNormCalibration` (at each epoch end, before your
        callbacks, the student's BatchNorm moving statistics are
        re-estimated on synthetic images; `batches=0` turns it off) and
        `keras_dfkd.callbacks.StudentProgress` (a warning when the
        student's predictions stay at chance agreement with the teacher).

        Logs: every term of the method (running means over the epoch),
        plus `loss`, the student's loss. Keras callbacks that monitor a
        logged term other than `loss` need `mode=`: `"min"` for losses,
        `"max"` for `agreement` and `student_accuracy`.

        Args:
            steps: int. Total number of rounds. With `steps_per_epoch` the
                rounds are split into `steps / steps_per_epoch` epochs (the
                unit of callbacks such as `BackupAndRestore`).
            epochs: int. Alternative to `steps`: the number of epochs of
                `steps_per_epoch` rounds.
            steps_per_epoch: int. Rounds per epoch. Defaults to `steps`.
            callbacks: list of `keras.callbacks.Callback`.
            verbose: as in `keras.Model.fit`.
            initial_epoch: as in `keras.Model.fit`.

        Returns:
            A `keras.callbacks.History`.
        """
        if x is not None or y is not None:
            raise ValueError(
                "DataFreeDistiller.fit() takes no data: the method "
                "synthesises its own images. Call fit(steps=N) for N rounds "
                "(or epochs=E, steps_per_epoch=S)."
            )
        unsupported = sorted(kwargs)
        if unsupported:
            raise ValueError(
                f"DataFreeDistiller.fit() does not accept {unsupported}: "
                "distillation is data-free. Evaluate the student on real "
                "data with keras_dfkd.callbacks.StudentEvaluation."
            )
        if not self.compiled:
            raise RuntimeError(
                "Call distiller.compile() before fit(): it creates the "
                "method's optimizers (paper defaults when called without "
                "arguments)."
            )
        epochs, steps_per_epoch = _resolve_schedule(
            steps, epochs, steps_per_epoch
        )
        if (
            not isinstance(initial_epoch, (int, np.integer))
            or initial_epoch < 0
            or initial_epoch >= epochs
        ):
            raise ValueError(
                f"fit(initial_epoch={initial_epoch!r}) with {epochs} "
                "epoch(s) would run no round: `initial_epoch` counts the "
                "epochs already done and must be an int in [0, "
                f"{epochs}). To resume a run, use keras_dfkd.callbacks."
                "BackupAndRestore and keep initial_epoch=0."
            )
        callbacks = list(callbacks or [])
        if not any(isinstance(c, NonFiniteGuard) for c in callbacks):
            guard = NonFiniteGuard(rollback=False, raise_error=True)
            callbacks.insert(0, guard)
        if not any(
            isinstance(c, StudentBatchNormCalibration) for c in callbacks
        ):
            position = next(
                i
                for i, c in enumerate(callbacks)
                if isinstance(c, NonFiniteGuard)
            )
            callbacks.insert(position + 1, StudentBatchNormCalibration())
        if not any(isinstance(c, StudentProgress) for c in callbacks):
            callbacks.append(StudentProgress())
        self._check_distribution(self.method)
        if self.method.on_fit_begin(
            self, (epochs - initial_epoch) * steps_per_epoch
        ):
            self.train_function = None
        # One dummy batch per round (Keras counts rounds as batches), one
        # row per device, so that it splits evenly across them.
        devices = backend.num_devices(self)
        dummy = np.zeros((steps_per_epoch * devices, 1), "float32")
        return super().fit(
            dummy,
            batch_size=devices,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=verbose,
            initial_epoch=initial_epoch,
            shuffle=False,
        )

    def evaluate(self, *args, **kwargs):
        raise NotImplementedError(
            "Evaluate the student directly: distiller.student.compile(...) "
            "then distiller.student.evaluate(x, y), or use "
            "keras_dfkd.callbacks.StudentEvaluation during fit."
        )

    def export_student(self, path):
        """Writes the student alone, ready to deploy without keras_dfkd.

        A path ending in `.keras` gets a Keras file (`keras.saving.
        load_model` reads it back), `.h5` a legacy Keras HDF5 file; a path
        without a file extension gets a TensorFlow SavedModel directory
        with a `serve` endpoint (TensorFlow must be installed; on JAX,
        Keras converts the student with jax2tf).

        Args:
            path: str, the `.keras` or `.h5` file, or the SavedModel
                directory.

        Returns:
            `path`.
        """
        path = str(path)
        if path.endswith((".keras", ".h5")) and not path.endswith(
            ".weights.h5"
        ):
            self.student.save(path)
            return path
        extension = os.path.splitext(path.rstrip("/\\"))[1]
        if extension:
            raise ValueError(
                f"export_student({path!r}): unknown file type "
                f"{extension!r}. Write a '.keras' file, a legacy '.h5' "
                "file, or give a directory path without an extension for "
                "a TensorFlow SavedModel."
            )
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            raise ImportError(
                "Exporting a SavedModel needs TensorFlow: pip install "
                "tensorflow, or export a .keras file (a path ending in "
                "'.keras')."
            ) from None
        self.student.export(path, format="tf_saved_model", verbose=False)
        return path

    def generate(self, batch_size=64):
        """Returns `batch_size` synthetic images as the method makes them."""
        return self.method.generate(batch_size, training=False)

    def seed_states(self):
        """Every `SeedGenerator` state variable in the model, in a fixed order.

        The states are the model's variables that are not weights; Keras
        saves no seed state, so the distiller saves these itself.
        """
        weights = {id(v) for v in self.weights}
        states, seen = [], set()
        for variable in self.variables:
            if id(variable) not in weights and id(variable) not in seen:
                seen.add(id(variable))
                states.append(variable)
        return states

    # Keras saves no SeedGenerator state, so a reloaded or resumed run
    # would redraw the noise of the first rounds. The distiller stores the
    # states next to its own variables (in .keras files and in the
    # .weights.h5 checkpoints of BackupAndRestore/ModelCheckpoint).

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for i, state in enumerate(self.seed_states()):
            store[f"{_SEED_KEY}{i}"] = keras.ops.convert_to_numpy(state)

    def load_own_variables(self, store):
        keys = list(store.keys())
        seeds = [k for k in keys if k.startswith(_SEED_KEY)]
        super().load_own_variables(
            {k: store[k] for k in keys if not k.startswith(_SEED_KEY)}
        )
        states = self.seed_states()
        if seeds and len(seeds) != len(states):
            raise ValueError(
                f"The checkpoint holds {len(seeds)} random-generator states "
                f"but this distiller has {len(states)}: it was saved from a "
                "differently configured method."
            )
        for i, state in enumerate(states):
            if f"{_SEED_KEY}{i}" in seeds:
                state.assign(np.asarray(store[f"{_SEED_KEY}{i}"]))

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "teacher": serialize(self.teacher),
            "student": serialize(self.student),
            "method": serialize(self.method),
            "input_range": self.input_range.get_config(),
        }

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {
            "optimizers": {
                name: keras.saving.serialize_keras_object(opt)
                for name, opt in self._group_optimizers.items()
            },
            "jit_compile": self._jit_compile_arg,
        }

    def compile_from_config(self, config):
        optimizers = {
            name: keras.saving.deserialize_keras_object(opt)
            for name, opt in config["optimizers"].items()
        }
        self.compile(optimizers=optimizers, jit_compile=config["jit_compile"])


def _layers(model):
    """`model` and every layer in it (nothing for a non-layer)."""
    if not isinstance(model, keras.Model):
        return []
    return [model] + all_layers(model)


def _resolve_schedule(steps, epochs, steps_per_epoch):
    for name, value in (
        ("steps", steps),
        ("epochs", epochs),
        ("steps_per_epoch", steps_per_epoch),
    ):
        if value is not None and (
            not isinstance(value, (int, np.integer))
            or isinstance(value, bool)
            or value < 1
        ):
            raise ValueError(
                f"`{name}` must be a positive int; received {value!r}."
            )
    if steps is not None:
        if epochs is not None:
            raise ValueError(
                "Pass either `steps` (total rounds) or `epochs` with "
                "`steps_per_epoch`, not both."
            )
        steps_per_epoch = steps_per_epoch or steps
        if steps % steps_per_epoch:
            raise ValueError(
                f"`steps`={steps} is not a multiple of "
                f"`steps_per_epoch`={steps_per_epoch}."
            )
        return steps // steps_per_epoch, steps_per_epoch
    if steps_per_epoch is None:
        raise ValueError(
            "Say how long to distil: fit(steps=N) runs N rounds, or "
            "fit(epochs=E, steps_per_epoch=S)."
        )
    return epochs or 1, steps_per_epoch
