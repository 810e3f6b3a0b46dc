"""Benchmark: every method on every zoo pair, one set of defaults.

For each teacher/student pair of `keras_dfkd.zoo` (teachers trained by
the zoo recipe on real Fashion-MNIST and cached) and each method, builds
the method from its `"<method>_cpu"` preset (sizes for a CPU; the
optimisation is the method's default, the same for every pair), distils
data-free for `--budget_seconds` of wall-clock time, and evaluates the
final student once on the real test split. Writes

    {"rows": [{"pair", "method", "teacher_accuracy", "student_accuracy",
               "distill_seconds", "rounds", "finite", ...}, ...], ...}

to `--output`, and prints the table the README shows.

    KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/zoo.py \
        --output=benchmarks/results/zoo.json
"""

import gc
import json
import math
import os
import platform
import sys
import time
import traceback

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
from budget import BudgetCurve  # noqa: E402
from budget import fit_within_budget  # noqa: E402
from device_info import device_name  # noqa: E402

import keras_dfkd  # noqa: E402
from keras_dfkd import zoo  # noqa: E402

METHODS = ("dafl", "dfad", "bn_statistics", "nayer", "pre_dfkd", "large_scale")

FLAGS = flags.FLAGS
flags.DEFINE_list("pairs", list(zoo.PAIRS), "Zoo pairs to run.")
flags.DEFINE_list("methods", list(METHODS), "Methods to run.")
flags.DEFINE_integer("budget_seconds", 120, "Distillation seconds per run.")
flags.DEFINE_integer("seed", 0, "Seed of the students and the methods.")
flags.DEFINE_float(
    "eval_seconds", 30.0, "Distillation seconds between curve points."
)
flags.DEFINE_string("output", None, "Where to write the JSON result.")
flags.DEFINE_integer(
    "calibration_batches",
    None,
    "StudentBatchNormCalibration(batches=...) for the run; None keeps "
    "fit's default (for A/B measurements; 0 turns it off).",
)
flags.DEFINE_string(
    "method_kwargs",
    "{}",
    "JSON dict {method: {argument: value}} on top of the presets (for "
    "experiments; the README rows use none).",
)


def build_method(name, pair, overrides):
    kwargs = {"seed": FLAGS.seed, **overrides.get(name, {})}
    if name == "nayer":
        info = keras_dfkd.datasets.get_info(pair.dataset)
        kwargs.setdefault("class_names", info.class_names)
        kwargs.setdefault(
            "augmentation", "auto" if info.flip_invariant else "crop"
        )
    return keras_dfkd.methods.from_preset(f"{name}_cpu", **kwargs)


def run_one(pair, method_name, teacher, teacher_accuracy, data, overrides):
    x_test, y_test = data
    row = {
        "pair": pair.name,
        "method": method_name,
        "teacher": teacher.name,
        "teacher_accuracy": teacher_accuracy,
    }
    student = zoo.build_student(pair, seed=FLAGS.seed)
    row["student"] = student.name
    method = build_method(method_name, pair, overrides)
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student, method, input_range=pair.input_range
    )
    row["input_range"] = str(distiller.input_range)
    distiller.compile()
    budget = BudgetCurve(
        FLAGS.budget_seconds,
        FLAGS.eval_seconds,
        x_test,
        y_test,
        lambda rounds: None,
    )
    guard = keras_dfkd.callbacks.NonFiniteGuard(rollback=False)
    callbacks = [guard]
    if FLAGS.calibration_batches is not None:
        calibration = keras_dfkd.callbacks.StudentBatchNormCalibration(
            batches=FLAGS.calibration_batches
        )
        callbacks.insert(1, calibration)
    start = time.perf_counter()
    error = None
    try:
        fit_within_budget(
            distiller, budget, steps_per_epoch=50, callbacks=callbacks
        )
    except Exception as exception:  # Reported in the row, not fatal.
        error = f"{type(exception).__name__}: {exception}"
        traceback.print_exc()
    row["wall_seconds"] = round(time.perf_counter() - start, 1)
    accuracy = keras_dfkd.callbacks.student_accuracy(
        distiller.student, x_test, y_test
    )
    weights_finite = all(
        bool(keras.ops.all(keras.ops.isfinite(v)))
        for v in distiller.student.weights
    )
    row.update(
        student_accuracy=accuracy,
        student_over_teacher=accuracy / teacher_accuracy,
        distill_seconds=round(budget.distill_seconds, 1),
        rounds=budget.rounds,
        finite=guard.failure is None and weights_finite and error is None,
        curve=budget.curve,
    )
    if guard.failure is not None:
        row["non_finite"] = guard.failure
    if error is not None:
        row["error"] = error
    return row


def table(rows):
    """Markdown: methods as rows, pairs as columns, student / teacher."""
    pairs = list(dict.fromkeys(r["pair"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["pair"], r["method"]): r for r in rows}
    lines = [
        "| method | " + " | ".join(pairs) + " |",
        "|---|" + "---|" * len(pairs),
    ]
    for method in methods:
        cells = []
        for pair in pairs:
            r = cell.get((pair, method))
            if r is None:
                cells.append("")
                continue
            text = (
                f"{r['student_accuracy']:.3f} / {r['teacher_accuracy']:.3f} "
                f"({r['student_over_teacher']:.0%})"
            )
            cells.append(text if r["finite"] else text + " non-finite")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    overrides = json.loads(FLAGS.method_kwargs)
    rows = []
    for pair_name in FLAGS.pairs:
        pair = zoo.get_pair(pair_name)
        teacher, teacher_accuracy, _ = zoo.load_or_train_teacher(
            pair, seed=FLAGS.seed
        )
        data = zoo.load_data(pair, "test")
        for method_name in FLAGS.methods:
            row = run_one(
                pair, method_name, teacher, teacher_accuracy, data, overrides
            )
            rows.append(row)
            print(
                f"{pair_name} {method_name}: student "
                f"{row['student_accuracy']:.4f} / teacher "
                f"{teacher_accuracy:.4f} ({row['student_over_teacher']:.1%})"
                f", {row['rounds']} rounds, finite {row['finite']}",
                flush=True,
            )
            _write(rows, overrides)
            gc.collect()
    print(table(rows))


def _write(rows, overrides):
    if not FLAGS.output:
        return
    result = {
        "benchmark": "zoo",
        "backend": keras.config.backend(),
        "device": device_name(),
        "budget_seconds": FLAGS.budget_seconds,
        "seed": FLAGS.seed,
        "method_kwargs": overrides,
        "calibration_batches": FLAGS.calibration_batches,
        "command": " ".join(sys.argv),
        "versions": {
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
        "rows": [
            {
                k: (
                    None if isinstance(v, float) and not math.isfinite(v) else v
                )
                for k, v in row.items()
            }
            for row in rows
        ],
    }
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    app.run(main)
