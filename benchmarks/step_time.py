"""Benchmark: seconds per synthesis step and per KD step of NAYER.

Times the library as a user runs it (`DataFreeDistiller.fit`, rounds
timed by a callback) and solves the per-step costs from rounds that
differ only in their step counts. Three configurations, each in its own
process (so each reports the peak RSS of one distillation process):

```
A: 1 synthesis step + 1 KD step per round        t_A = c + g + k
B: 1 + dg synthesis steps, 1 KD step             t_B = t_A + dg * g
C: 1 synthesis step, 1 + dk KD steps             t_C = t_A + dk * k
```

`synthesis_seconds = (median t_B - median t_A) / dg` and likewise for the
KD step; the min and max come from each timed round of B (or C) against
the median of A. The first round of A (tracing and compiling) is reported
as `first_round_seconds`; `--defaults_check` also runs two rounds at
NAYER's paper step counts (30 synthesis and 200 KD steps) and reports
the first minus the second as `compile_seconds_at_defaults`, with that
process's peak RSS (`peak_rss_mb_at_defaults`).

    KERAS_BACKEND=tensorflow python benchmarks/step_time.py \
        --preset=nayer_mnist_step \
        --output=benchmarks/results/step_time_nayer_mnist_step_tensorflow.json

Presets (in `nayer_step_pair.py`; random weights and random 10 x 512
label embeddings: only the speed is measured):

- `nayer_mnist_step`: LeNet-5 (BN) -> LeNet-5-half (no BN), 32x32x1,
  NAYER generator of width 64 with 1,000-d noise (18.7 M parameters),
  synthesis batch 200 (20 noisy dense maps), KD batch 256, KL at T = 20.
- `nayer_cifar_step_100`: ResNet-34 -> ResNet-18, 32x32x3, synthesis
  batch 100, KD batch 256.
- `nayer_cifar_step_400`: the same at synthesis batch 400, KD batch 512.
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
from device_info import device_name  # noqa: E402
from nayer_step_pair import PRESETS  # noqa: E402
from nayer_step_pair import build_distiller  # noqa: E402
from round_timer import RoundTimer  # noqa: E402

import keras_dfkd  # noqa: E402

#: NAYER's paper step counts per round, for `--defaults_check`.
PAPER_STEPS = (30, 200)

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "nayer_mnist_step", sorted(PRESETS), "Pair.")
flags.DEFINE_integer("rounds", 10, "Timed rounds per configuration.")
flags.DEFINE_bool(
    "defaults_check",
    False,
    "Also time two rounds at NAYER's paper step counts (30 + 200).",
)
flags.DEFINE_string("output", None, "Where to write the JSON result.")
flags.DEFINE_string(
    "_steps", None, "Internal: 'generator_steps,kd_steps,rounds' of a worker."
)


def worker(generator_steps, kd_steps, rounds):
    """Runs `rounds` rounds of one configuration; returns its timings."""
    distiller = build_distiller(
        PRESETS[FLAGS.preset], generator_steps, kd_steps
    )
    timer = RoundTimer()
    distiller.fit(steps=rounds, callbacks=[timer], verbose=0)
    return {
        "round_seconds": timer.seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / 1024,
    }


def run_worker(generator_steps, kd_steps, rounds):
    """`worker` in a fresh process (its own peak RSS)."""
    command = [
        sys.executable,
        os.path.abspath(__file__),
        f"--preset={FLAGS.preset}",
        f"--_steps={generator_steps},{kd_steps},{rounds}",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"worker {command} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def per_step(rounds, baseline, extra):
    """Median, min and max seconds of one step from timed rounds."""
    steps = [(seconds - baseline) / extra for seconds in rounds]
    return (
        (statistics.median(rounds) - baseline) / extra,
        min(steps),
        max(steps),
    )


def write(result):
    if FLAGS.output:
        os.makedirs(
            os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True
        )
        with open(FLAGS.output, "w") as f:
            f.write(json.dumps(result, indent=1))


def main(argv):
    del argv
    if FLAGS._steps:
        print(json.dumps(worker(*map(int, FLAGS._steps.split(",")))))
        return
    config = PRESETS[FLAGS.preset]
    dg, dk = config["synthesis_extra"], config["kd_extra"]
    pair = config.items()
    total = FLAGS.rounds + 1  # The first round traces and compiles.
    runs = {
        "A": run_worker(1, 1, total),
        "B": run_worker(1 + dg, 1, total),
        "C": run_worker(1, 1 + dk, total),
    }
    timed = {name: run["round_seconds"][1:] for name, run in runs.items()}
    baseline = statistics.median(timed["A"])
    synthesis = per_step(timed["B"], baseline, dg)
    kd = per_step(timed["C"], baseline, dk)
    result = {
        "benchmark": "step_time",
        "preset": FLAGS.preset,
        "method": "nayer",
        "backend": keras.config.backend(),
        "device": device_name(),
        **{k: list(v) if isinstance(v, tuple) else v for k, v in pair},
        "synthesis_seconds": round(synthesis[0], 4),
        "synthesis_seconds_min": round(synthesis[1], 4),
        "synthesis_seconds_max": round(synthesis[2], 4),
        "kd_seconds": round(kd[0], 5),
        "kd_seconds_min": round(kd[1], 5),
        "kd_seconds_max": round(kd[2], 5),
        "round_overhead_seconds": round(baseline - synthesis[0] - kd[0], 4),
        "first_round_seconds": round(runs["A"]["round_seconds"][0], 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs.values()), 1),
        "peak_rss_mb_per_configuration": {
            name: round(run["peak_rss_mb"], 1) for name, run in runs.items()
        },
        "round_seconds": {
            name: [round(s, 4) for s in run["round_seconds"]]
            for name, run in runs.items()
        },
        "versions": {
            "keras": keras.__version__,
            "keras_dfkd": keras_dfkd.__version__,
            "python": platform.python_version(),
        },
    }
    write(result)
    if FLAGS.defaults_check:
        # Written first without it: at 230 unrolled steps the JAX compile
        # alone can take many minutes.
        defaults = run_worker(*PAPER_STEPS, 2)
        first, second = defaults["round_seconds"]
        result["first_round_seconds_at_defaults"] = round(first, 2)
        result["peak_rss_mb_at_defaults"] = round(defaults["peak_rss_mb"], 1)
        result["round_seconds_at_defaults"] = round(second, 2)
        result["compile_seconds_at_defaults"] = round(first - second, 2)
        write(result)
    print(
        f"{FLAGS.preset} ({result['backend']}, {result['device']}): "
        f"synthesis {result['synthesis_seconds']} s "
        f"[{result['synthesis_seconds_min']}, "
        f"{result['synthesis_seconds_max']}], KD {result['kd_seconds']} s "
        f"[{result['kd_seconds_min']}, {result['kd_seconds_max']}], "
        f"first round {result['first_round_seconds']} s, peak RSS "
        f"{result['peak_rss_mb']} MB"
    )


if __name__ == "__main__":
    app.run(main)
