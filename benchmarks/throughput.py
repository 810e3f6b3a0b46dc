"""Benchmark: rounds and images per second of Large-Scale DFD.

Builds a CIFAR-size pair (ResNet-34 -> ResNet-18 at 32x32x3 by default,
random weights: only the speed is measured), runs `--rounds` rounds of
stage 1 (all generators of the ensemble trained on the teacher's BN
statistics) and `--rounds` of stage 2 (student steps on a frozen member),
and reports the median seconds per round of each stage after its first
round (which includes tracing and compilation). One JSON object per run:

    KERAS_BACKEND=jax python benchmarks/throughput.py \
        --output=benchmarks/results/throughput_jax_cpu.json

Run it once per backend (and on a GPU with the JAX backend when you have
one); `results_table.py --throughput` prints them side by side. On a CPU,
Keras's `jit_compile="auto"` runs TensorFlow without XLA;
`--jit_compile=true` measures it with XLA.
"""

import json
import os
import platform
import resource
import statistics
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
from device_info import device_name  # noqa: E402
from round_timer import RoundTimer  # noqa: E402

import keras_dfkd  # noqa: E402
from keras_dfkd.backend import keras_shims  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher", "resnet34", "Teacher architecture.")
flags.DEFINE_string("student", "resnet18", "Student architecture.")
flags.DEFINE_integer("image_size", 32, "Square input size.")
flags.DEFINE_integer("channels", 3, "Input channels.")
flags.DEFINE_integer("num_classes", 10, "Classes of the pair.")
flags.DEFINE_integer("batch_size", 64, "Synthetic images per step.")
flags.DEFINE_integer("ensemble", 4, "Generators in the ensemble.")
flags.DEFINE_integer("student_steps", 1, "Student steps per stage-2 round.")
flags.DEFINE_integer("generator_width", 64, "Generator width (paper: 64).")
flags.DEFINE_integer("rounds", 4, "Timed rounds per stage (plus one warm).")
flags.DEFINE_enum(
    "jit_compile",
    "auto",
    ["auto", "true", "false"],
    "XLA for the step (`compile(jit_compile=...)`); JAX always compiles.",
)
flags.DEFINE_string("output", None, "Where to write the JSON result.")


def main(argv):
    del argv
    keras_shims.set_random_seed(0)  # On JAX, without loading TensorFlow.
    shape = (FLAGS.image_size, FLAGS.image_size, FLAGS.channels)
    teacher = keras_dfkd.models.get(FLAGS.teacher, FLAGS.num_classes, shape)
    student = keras_dfkd.models.get(FLAGS.student, FLAGS.num_classes, shape)
    warm = 1  # The first round of each stage traces and compiles.
    method = keras_dfkd.methods.LargeScale(
        batch_size=FLAGS.batch_size,
        ensemble_size=FLAGS.ensemble,
        generator_rounds=warm + FLAGS.rounds,
        student_steps=FLAGS.student_steps,
        generator_width=FLAGS.generator_width,
        seed=0,
    )
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    jit_compile = {"auto": "auto", "true": True, "false": False}
    distiller.compile(jit_compile=jit_compile[FLAGS.jit_compile])
    timer = RoundTimer()
    total = 2 * (warm + FLAGS.rounds)
    distiller.fit(steps=total, callbacks=[timer], verbose=0)
    stage_1 = timer.seconds[warm : warm + FLAGS.rounds]
    stage_2 = timer.seconds[2 * warm + FLAGS.rounds :]
    stages = {}
    for name, seconds, images in (
        ("stage_1", stage_1, FLAGS.batch_size),
        ("stage_2", stage_2, FLAGS.batch_size * FLAGS.student_steps),
    ):
        median = statistics.median(seconds)
        stages[name] = {
            "seconds_per_round": round(median, 4),
            "rounds_per_second": round(1 / median, 3),
            "images_per_second": round(images / median, 1),
            "round_seconds": [round(s, 4) for s in seconds],
        }
    result = {
        "benchmark": "throughput",
        "method": "large_scale",
        "backend": keras.config.backend(),
        "device": device_name(),
        "teacher": FLAGS.teacher,
        "student": FLAGS.student,
        "image_shape": list(shape),
        "batch_size": FLAGS.batch_size,
        "ensemble": FLAGS.ensemble,
        "student_steps": FLAGS.student_steps,
        "generator_width": FLAGS.generator_width,
        "jit_compile": bool(distiller.jit_compile),
        "first_round_seconds": round(timer.seconds[0], 2),
        **stages,
        "peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "versions": {
            "keras": keras.__version__,
            "keras_dfkd": keras_dfkd.__version__,
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
        f"{FLAGS.teacher} -> {FLAGS.student} on {result['device']} "
        f"({keras.config.backend()}, XLA {result['jit_compile']}): stage 1 "
        f"{stages['stage_1']['rounds_per_second']} rounds/s "
        f"({stages['stage_1']['images_per_second']} images/s), stage 2 "
        f"{stages['stage_2']['rounds_per_second']} rounds/s "
        f"({stages['stage_2']['images_per_second']} images/s)"
    )


if __name__ == "__main__":
    app.run(main)
