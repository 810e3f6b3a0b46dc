"""Distil a teacher with Large-Scale Generative DFD (Luo et al., 2020).

Trains the project's teacher recipe on the real training split (or loads
it from the cache), trains an ensemble of class-conditional generators on
the teacher's BatchNorm statistics (stage 1, all members in one compiled
step), then distils the student on images from randomly chosen members of
the frozen ensemble (stage 2). Saves the ensemble and the student.

    python examples/large_scale.py --dataset=mnist --ensemble=4
    python examples/large_scale.py \
        --ensemble_path=runs/large_scale/ensemble.keras

The second form skips stage 1 and distils from a saved ensemble.
Interrupt a run and start the same command again: `BackupAndRestore`
resumes from the last finished epoch.
"""

import json
import os
import sys

import keras
from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras_dfkd  # noqa: E402
from keras_dfkd import recipes  # noqa: E402

recipes.define_pair_flags()
flags.DEFINE_integer("ensemble", 4, "Number of generators.")
flags.DEFINE_string(
    "ensemble_path", None, "A saved GeneratorEnsemble: skip stage 1."
)
flags.DEFINE_integer("steps", 600, "Rounds, stage 1 included.")
flags.DEFINE_integer("steps_per_epoch", 20, "Rounds per epoch/checkpoint.")
flags.DEFINE_string("method_kwargs", "{}", "JSON dict of LargeScale arguments.")
flags.DEFINE_string("output_dir", "runs/large_scale", "Where outputs go.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    pair = recipes.pair_from_flags()
    student, x_test, y_test = pair["student"], pair["x_test"], pair["y_test"]
    kwargs = dict(ensemble_size=FLAGS.ensemble, seed=FLAGS.seed)
    if FLAGS.ensemble_path:
        ensemble = keras.saving.load_model(FLAGS.ensemble_path)
        kwargs.update(
            ensemble=ensemble, ensemble_size=ensemble.size, generator_rounds=0
        )
    kwargs.update(json.loads(FLAGS.method_kwargs))
    method = keras_dfkd.methods.LargeScale.from_preset(
        "large_scale_cpu", **kwargs
    )
    distiller = keras_dfkd.DataFreeDistiller(pair["teacher"], student, method)
    distiller.compile()
    distiller.fit(
        steps=FLAGS.steps,
        steps_per_epoch=FLAGS.steps_per_epoch,
        callbacks=recipes.run_callbacks(
            FLAGS.output_dir, x_test, y_test, num_images=100
        ),
        verbose=2,
    )
    ensemble_path = os.path.join(FLAGS.output_dir, "ensemble.keras")
    method.generator.save(ensemble_path)
    student_path = os.path.join(FLAGS.output_dir, "student.keras")
    student.save(student_path)
    accuracy = keras_dfkd.callbacks.student_accuracy(student, x_test, y_test)
    teacher_accuracy = pair["teacher_accuracy"]
    print(
        f"teacher {teacher_accuracy:.4f}, student {accuracy:.4f} "
        f"({accuracy / teacher_accuracy:.1%} of the teacher) after "
        f"{FLAGS.steps} rounds ({method.generator_rounds} of stage 1, "
        f"{method.ensemble_size} generators); saved {ensemble_path} and "
        f"{student_path}"
    )


if __name__ == "__main__":
    app.run(main)
