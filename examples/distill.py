"""Distil a saved teacher into a student with any method, data-free.

    python examples/train_teacher.py --output=teacher.keras
    python examples/distill.py --teacher=teacher.keras --method=dfad \
        --student=lenet5_half --steps=2000 --output_dir=runs/dfad

With your own teacher, say where its training images lived:
`--input_range="[0, 1]"` (or `"[-1, 1]"`, `"[0, 255]"`, per-channel
`"[[0.49, 0.48, 0.45], [0.25, 0.24, 0.26]]"` mean/std of [0, 1] pixels,
or `standardized`); left empty, it is read off the teacher (a
`Rescaling`/`Normalization` first layer) or assumed standardised, with a
warning when the teacher's BatchNorm statistics disagree.

Real test data is used only to report the student's accuracy
(`--dataset`, optional); the distillation itself sees no real image.
Interrupt it and run the same command again: `BackupAndRestore` resumes
from the last finished epoch.
"""

import json
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402

import keras_dfkd  # noqa: E402
from keras_dfkd import recipes  # noqa: E402

flags.DEFINE_string("teacher", "teacher.keras", "Saved teacher model.")
flags.DEFINE_string(
    "method",
    "dfad",
    "dafl, dfad, bn_statistics, nayer (see nayer.py), pre_dfkd, "
    "large_scale, deep_inversion, cmi or fast.",
)
flags.DEFINE_string(
    "preset",
    "",
    "Start from a preset of the method (keras_dfkd/presets.py), e.g. "
    "'deep_inversion_cpu'; the flags below override it.",
)
flags.DEFINE_string("student", "lenet5_half", "Student architecture.")
flags.DEFINE_string("dataset", "mnist", "Real test split for reporting, or ''.")
flags.DEFINE_integer("steps", 2000, "Distillation rounds.")
flags.DEFINE_integer("steps_per_epoch", 100, "Rounds per epoch/checkpoint.")
flags.DEFINE_integer(
    "batch_size", None, "Synthetic batch size (default: the method's)."
)
flags.DEFINE_integer(
    "generator_width", None, "Generator width (default: the method's)."
)
flags.DEFINE_string("method_kwargs", "{}", "JSON dict of method arguments.")
flags.DEFINE_string(
    "input_range",
    "",
    "The teacher's input domain: JSON [low, high] or [[means], [stds]], "
    "'standardized', or '' to detect it.",
)
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("output_dir", "runs/distill", "Where outputs go.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    keras.utils.set_random_seed(FLAGS.seed)
    teacher = keras.saving.load_model(FLAGS.teacher)
    num_classes = teacher.outputs[0].shape[-1]
    student = keras_dfkd.models.get(
        FLAGS.student, num_classes, tuple(teacher.inputs[0].shape[1:])
    )
    kwargs = dict(seed=FLAGS.seed)
    for name in ("batch_size", "generator_width"):
        if getattr(FLAGS, name) is not None:
            kwargs[name] = getattr(FLAGS, name)
    if FLAGS.dataset:
        kwargs.update(
            recipes.dataset_method_arguments(FLAGS.method, FLAGS.dataset)
        )
    kwargs.update(json.loads(FLAGS.method_kwargs))
    if FLAGS.preset:
        method = keras_dfkd.methods.from_preset(FLAGS.preset, **kwargs)
    else:
        method = keras_dfkd.methods.get(FLAGS.method, **kwargs)
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student, method, input_range=_input_range(FLAGS.input_range)
    )
    distiller.compile()
    print(f"teacher input range: {distiller.input_range}")
    x_test = y_test = None
    if FLAGS.dataset:
        x_test, y_test = recipes.load_data_in_range(
            FLAGS.dataset,
            "test",
            distiller.input_range,
            image_size=student.inputs[0].shape[1],
        )
    callbacks = recipes.run_callbacks(FLAGS.output_dir, x_test, y_test)
    distiller.fit(
        steps=FLAGS.steps,
        steps_per_epoch=FLAGS.steps_per_epoch,
        callbacks=callbacks,
        verbose=2,
    )
    path = os.path.join(FLAGS.output_dir, "student.keras")
    distiller.student.save(path)
    print(f"saved {path}")


def _input_range(text):
    """The `--input_range` flag as `DataFreeDistiller` reads it."""
    if not text or text == "standardized":
        return text or None
    value = json.loads(text)
    return tuple(tuple(v) if isinstance(v, list) else v for v in value)


if __name__ == "__main__":
    app.run(main)
