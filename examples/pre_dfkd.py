"""Distil a teacher with PRE-DFKD (adversarial generator + replay VAE).

Trains the project's teacher recipe on the real training split (or loads
it from the cache), distils data-free while a VAE models the synthetic
images seen so far and replays them to the student, and reports the
student's accuracy on the real test split along the run: PRE-DFKD's point
is that it rises steadily, so the final student needs no validation data.

    python examples/pre_dfkd.py --dataset=mnist --steps=400
    python examples/pre_dfkd.py --dataset=fashion_mnist

Interrupt it and run the same command again: `BackupAndRestore` resumes
from the last finished epoch, VAE included.
"""

import json
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras_dfkd  # noqa: E402
from keras_dfkd import recipes  # noqa: E402

recipes.define_pair_flags()
flags.DEFINE_integer("steps", 400, "Rounds.")
flags.DEFINE_integer("steps_per_epoch", 20, "Rounds per epoch/checkpoint.")
flags.DEFINE_string(
    "preset", "pre_dfkd_cpu", "PRE-DFKD's settings (keras_dfkd/presets.py)."
)
flags.DEFINE_string(
    "method_kwargs", "{}", "JSON dict of PreDFKD arguments over the preset."
)
flags.DEFINE_string("output_dir", "runs/pre_dfkd", "Where outputs go.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    pair = recipes.pair_from_flags()
    student, x_test, y_test = pair["student"], pair["x_test"], pair["y_test"]
    # The student's rate decays over the whole run.
    kwargs = dict(decay_rounds="fit", seed=FLAGS.seed)
    kwargs.update(json.loads(FLAGS.method_kwargs))
    method = keras_dfkd.methods.PreDFKD.from_preset(FLAGS.preset, **kwargs)
    distiller = keras_dfkd.DataFreeDistiller(pair["teacher"], student, method)
    distiller.compile()
    callbacks = recipes.run_callbacks(
        FLAGS.output_dir, x_test, y_test, num_images=100
    )
    distiller.fit(
        steps=FLAGS.steps,
        steps_per_epoch=FLAGS.steps_per_epoch,
        callbacks=callbacks,
        verbose=2,
    )
    accuracy = keras_dfkd.callbacks.student_accuracy(student, x_test, y_test)
    path = os.path.join(FLAGS.output_dir, "student.keras")
    student.save(path)
    stats = keras_dfkd.callbacks.accuracy_statistics(
        [r["student_accuracy"] for r in callbacks[0].records]
    )
    teacher_accuracy = pair["teacher_accuracy"]
    print(
        f"teacher {teacher_accuracy:.4f}, final student {accuracy:.4f} "
        f"({accuracy / teacher_accuracy:.1%} of the teacher); over the run "
        f"(this session's evaluations): mean {stats['accuracy_mean']:.4f}, "
        f"variance {stats['accuracy_variance']:.2e}, largest drop "
        f"{stats['largest_drop']:.4f}; replay memory "
        f"{method.replay.memory_bytes / 2**20:.1f} MB of VAE weights; "
        f"saved {path}"
    )


if __name__ == "__main__":
    app.run(main)
