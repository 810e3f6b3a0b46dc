"""Benchmark: data-free distillation under a wall-clock budget.

Trains (or loads a cached) teacher on the real training split, distils
data-free until `--budget_seconds` of distillation have passed, evaluates
the final student on the real test split and writes one JSON object (the
contract in DESIGN.md). Test-split evaluations along the way only fill the
`curve`; their time is not counted in the budget and they never select
the reported student.

    python benchmarks/distill.py --method=dfad --dataset=mnist \
        --teacher=lenet5 --student=lenet5_half --budget_seconds=600 \
        --seed=0 --output=results/dfad_mnist.json
"""

import json
import os
import platform
import resource
import sys
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402

import keras_dfkd  # noqa: E402
from keras_dfkd import recipes  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("method", "dfad", "dafl, dfad or bn_statistics.")
flags.DEFINE_string("dataset", "mnist", "mnist or fashion_mnist (offline).")
flags.DEFINE_string("teacher", "lenet5", "Teacher architecture.")
flags.DEFINE_string("student", "lenet5_half", "Student architecture.")
flags.DEFINE_integer("budget_seconds", 600, "Distillation wall-clock budget.")
flags.DEFINE_integer("seed", 0, "Seed of the teacher recipe and the method.")
flags.DEFINE_string("output", None, "Where to write the JSON result.")
flags.DEFINE_integer("batch_size", 256, "Synthetic batch size.")
flags.DEFINE_integer("generator_width", 16, "Generator width (paper: 64).")
flags.DEFINE_integer("student_steps", None, "Student steps per round.")
flags.DEFINE_integer("rounds_per_eval", 50, "Rounds between evaluations.")
flags.DEFINE_integer("teacher_epochs", 10, "Epochs of the teacher recipe.")
flags.DEFINE_string(
    "cache_dir",
    os.path.expanduser("~/.keras/keras_dfkd/teachers"),
    "Where trained teachers are cached.",
)
flags.DEFINE_string(
    "method_kwargs", "{}", "JSON dict of extra method arguments."
)


class BudgetCurve(keras.callbacks.Callback):
    """Stops after `budget` seconds of distillation; records the curve."""

    def __init__(self, budget, x_test, y_test, rounds_per_epoch, images):
        super().__init__()
        self.budget = budget
        self.x_test, self.y_test = x_test, y_test
        self.rounds_per_epoch = rounds_per_epoch
        self.images_per_round = images
        self.distill_seconds = 0.0
        self.curve = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.distill_seconds += time.perf_counter() - self._start
        rounds = (epoch + 1) * self.rounds_per_epoch
        accuracy = keras_dfkd.callbacks.student_accuracy(
            self.model.student, self.x_test, self.y_test
        )
        self.curve.append(
            {
                "seconds": round(self.distill_seconds, 2),
                "rounds": rounds,
                "images": rounds * self.images_per_round,
                "student_accuracy": accuracy,
            }
        )
        print(
            f"[{self.distill_seconds:7.1f}s] rounds {rounds:6d} "
            f"student accuracy {accuracy:.4f}",
            flush=True,
        )
        if self.distill_seconds >= self.budget:
            self.model.stop_training = True


def main(argv):
    del argv
    wall_start = time.perf_counter()
    teacher, teacher_accuracy, _ = recipes.load_or_train_teacher(
        FLAGS.cache_dir,
        FLAGS.dataset,
        FLAGS.teacher,
        epochs=FLAGS.teacher_epochs,
        seed=FLAGS.seed,
    )
    x_test, y_test = recipes.load_data(FLAGS.dataset, "test")
    keras.utils.set_random_seed(FLAGS.seed)
    info = keras_dfkd.datasets.get_info(FLAGS.dataset)
    student = recipes.build_model(
        FLAGS.student, info.num_classes, x_test.shape[1:]
    )
    kwargs = dict(
        batch_size=FLAGS.batch_size,
        generator_width=FLAGS.generator_width,
        seed=FLAGS.seed,
    )
    if FLAGS.student_steps is not None:
        kwargs["student_steps"] = FLAGS.student_steps
    kwargs.update(json.loads(FLAGS.method_kwargs))
    method = keras_dfkd.methods.get(FLAGS.method, **kwargs)
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    distiller.compile()
    images_per_round = FLAGS.batch_size * sum(p.repeats for p in method.phases)
    budget = BudgetCurve(
        FLAGS.budget_seconds,
        x_test,
        y_test,
        FLAGS.rounds_per_eval,
        images_per_round,
    )
    distiller.fit(
        epochs=10**6,
        steps_per_epoch=FLAGS.rounds_per_eval,
        callbacks=[budget],
        verbose=0,
    )
    final = budget.curve[-1]
    result = {
        "method": FLAGS.method,
        "dataset": FLAGS.dataset,
        "backend": keras.config.backend(),
        "teacher": FLAGS.teacher,
        "student": FLAGS.student,
        "teacher_accuracy": teacher_accuracy,
        "student_accuracy": final["student_accuracy"],
        "best_student_accuracy": max(
            p["student_accuracy"] for p in budget.curve
        ),
        "curve": budget.curve,
        "wall_seconds": round(time.perf_counter() - wall_start, 2),
        "distill_seconds": round(budget.distill_seconds, 2),
        "rounds": final["rounds"],
        "synthesized_images": final["images"],
        "peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "replay_bytes": 0,
        "method_config": method.get_config(),
        "versions": {
            "keras": keras.__version__,
            "backend": _backend_version(),
            "python": platform.python_version(),
        },
    }
    text = json.dumps(result, indent=1)
    if FLAGS.output:
        os.makedirs(
            os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True
        )
        with open(FLAGS.output, "w") as f:
            f.write(text)
    print(
        f"{FLAGS.method} on {FLAGS.dataset}: teacher {teacher_accuracy:.4f}, "
        f"student {result['student_accuracy']:.4f} "
        f"({result['student_accuracy'] / teacher_accuracy:.1%} of teacher) "
        f"after {result['rounds']} rounds in {result['distill_seconds']} s"
    )


def _backend_version():
    backend = keras.config.backend()
    module = __import__("jax" if backend == "jax" else backend)
    return module.__version__


if __name__ == "__main__":
    app.run(main)
