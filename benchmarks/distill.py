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
from budget import BudgetCurve  # noqa: E402
from budget import fit_within_budget  # noqa: E402
from device_info import device_name  # noqa: E402

import keras_dfkd  # noqa: E402
from keras_dfkd import recipes  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "method",
    "dfad",
    "dafl, dfad, bn_statistics, nayer, pre_dfkd or large_scale.",
)
recipes.define_pair_flags()
flags.DEFINE_integer("budget_seconds", 600, "Distillation wall-clock budget.")
flags.DEFINE_integer(
    "budget_rounds",
    None,
    "A budget of rounds instead of seconds (the curve then does not depend "
    "on the machine's speed or load; for A/B comparisons).",
)
flags.DEFINE_integer(
    "eval_rounds", 50, "Rounds between test evaluations with --budget_rounds."
)
flags.DEFINE_string("output", None, "Where to write the JSON result.")
flags.DEFINE_string(
    "label", None, "Row label in results tables (default: the method)."
)
flags.DEFINE_string(
    "preset",
    None,
    "The method's settings (keras_dfkd/presets.py); default: "
    "'<method>_lenet_cpu', those of the README's LeNet-5 rows.",
)
flags.DEFINE_integer("batch_size", None, "Synthetic batch size (override).")
flags.DEFINE_integer("generator_width", None, "Generator width (override).")
flags.DEFINE_integer("student_steps", None, "Student steps per round.")
flags.DEFINE_float(
    "eval_seconds", 10.0, "Distillation seconds between test evaluations."
)
flags.DEFINE_float(
    "target_fraction",
    0.95,
    "Report the distillation seconds until the student first reaches this "
    "fraction of the teacher's accuracy.",
)
flags.DEFINE_string(
    "method_kwargs", "{}", "JSON dict of extra method arguments."
)
flags.DEFINE_enum(
    "replay", None, ["vae"], "Replay memory for DFAD (PRE-DFAD): vae."
)
flags.DEFINE_integer(
    "ensemble", None, "Number of generators of --method=large_scale."
)
flags.DEFINE_enum(
    "input_range",
    "auto",
    ["auto", "recipe", "default"],
    "The teacher's domain given to the distiller: 'recipe' declares the "
    "recipe teacher's per-channel standardisation, 'default' leaves the "
    "distiller's default (per-batch standardised images); 'auto', how "
    "the README rows ran: 'recipe' for NAYER, 'default' otherwise.",
)
flags.DEFINE_float(
    "warmup_fraction",
    0.1,
    "Evaluations in this first fraction of the budget are left out of the "
    "robustness statistics (mean, variance, largest drop).",
)


def stolen_seconds():
    """CPU time the hypervisor gave to others (Linux `/proc/stat` steal)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def method_arguments():
    """The method's arguments: its preset, the dataset's, then the flags."""
    preset = FLAGS.preset or f"{FLAGS.method}_lenet_cpu"
    kwargs = dict(keras_dfkd.presets.find(preset)[1])
    kwargs.update(seed=FLAGS.seed)
    kwargs.update(recipes.dataset_method_arguments(FLAGS.method, FLAGS.dataset))
    for name in ("batch_size", "generator_width", "student_steps"):
        if getattr(FLAGS, name) is not None:
            kwargs[name] = getattr(FLAGS, name)
    if FLAGS.ensemble is not None:
        kwargs["ensemble_size"] = FLAGS.ensemble
    if FLAGS.replay == "vae":
        # PRE-DFAD: PRE-DFKD's VAE at the sizes and steps of its preset.
        _, pre_dfkd = keras_dfkd.presets.find("pre_dfkd_lenet_cpu")
        kwargs["replay"] = keras_dfkd.replay.VAEReplay(
            latent_dim=pre_dfkd["vae_latent_dim"],
            width=pre_dfkd["vae_width"],
            seed=FLAGS.seed + 1,
        )
        kwargs["replay_steps"] = pre_dfkd["replay_steps"]
    kwargs.update(json.loads(FLAGS.method_kwargs))
    return kwargs


def images_per_round(method):
    """`f(rounds)`: new synthetic images the student has learnt from."""
    if isinstance(method, keras_dfkd.methods.NAYER):
        return lambda rounds: rounds * method.batch_size  # Reads the pool.
    student = [p for p in method.phases if "student" in p.groups]
    per_round = method.batch_size * sum(p.repeats for p in student)
    if isinstance(method, keras_dfkd.methods.LargeScale) and not method.joint:
        # No student step in stage 1.
        return lambda rounds: (
            per_round * max(0, rounds - method.generator_rounds)
        )
    return lambda rounds: rounds * per_round


def robustness(curve):
    """Mean, variance and largest drop of the accuracy after warmup.

    The warmup is the first `--warmup_fraction` of the budget, in seconds
    or, with `--budget_rounds`, in rounds.
    """
    unit = "rounds" if FLAGS.budget_rounds else "seconds"
    budget = FLAGS.budget_rounds or FLAGS.budget_seconds
    warmup = FLAGS.warmup_fraction * budget
    after = [p["student_accuracy"] for p in curve if p[unit] >= warmup]
    if not after:
        return {}
    return {
        f"warmup_{unit}": warmup,
        "evaluations_after_warmup": len(after),
        **keras_dfkd.callbacks.accuracy_statistics(after),
    }


def main(argv):
    del argv
    wall_start = time.perf_counter()
    pair = recipes.pair_from_flags()
    teacher_accuracy = pair["teacher_accuracy"]
    x_test, y_test = pair["x_test"], pair["y_test"]
    method = keras_dfkd.methods.get(FLAGS.method, **method_arguments())
    declare = FLAGS.input_range == "recipe" or (
        FLAGS.input_range == "auto" and FLAGS.method == "nayer"
    )
    distiller = keras_dfkd.DataFreeDistiller(
        pair["teacher"],
        pair["student"],
        method,
        input_range=recipes.recipe_input_range(FLAGS.dataset)
        if declare
        else None,
    )
    distiller.compile()
    budget = BudgetCurve(
        FLAGS.budget_seconds,
        FLAGS.eval_seconds,
        x_test,
        y_test,
        images_per_round(method),
        budget_rounds=FLAGS.budget_rounds,
        eval_rounds=FLAGS.eval_rounds,
    )
    steal_start = stolen_seconds()
    fit_within_budget(distiller, budget, steps_per_epoch=100)
    steal = stolen_seconds() - steal_start
    final = budget.curve[-1]
    target = FLAGS.target_fraction * teacher_accuracy
    reached = [p for p in budget.curve if p["student_accuracy"] >= target]
    replay = getattr(method, "replay", None)
    image_bytes = 1  # A uint8 pool's bytes per pixel.
    for d in x_test.shape[1:]:
        image_bytes *= d
    result = {
        "method": FLAGS.method,
        "label": FLAGS.label or FLAGS.method,
        "dataset": FLAGS.dataset,
        "backend": keras.config.backend(),
        "device": device_name(),
        "teacher": FLAGS.teacher,
        "student": FLAGS.student,
        "input_range": str(distiller.input_range),
        "teacher_accuracy": teacher_accuracy,
        "student_accuracy": final["student_accuracy"],
        "best_student_accuracy": max(
            p["student_accuracy"] for p in budget.curve
        ),
        "target_fraction": FLAGS.target_fraction,
        "seconds_to_target": reached[0]["seconds"] if reached else None,
        "cpu_seconds_to_target": (
            reached[0]["cpu_seconds"] if reached else None
        ),
        "curve": budget.curve,
        "wall_seconds": round(time.perf_counter() - wall_start, 2),
        "budget_rounds": FLAGS.budget_rounds,
        # Where the student's schedule ended (0 for a cosine spanning the
        # run).
        "final_student_learning_rate": float(
            keras.ops.convert_to_numpy(
                distiller.optimizers["student"].learning_rate
            )
        ),
        "distill_seconds": round(budget.distill_seconds, 2),
        "distill_cpu_seconds": round(budget.cpu_seconds, 2),
        "stolen_cpu_seconds": round(steal, 2),
        "rounds": final["rounds"],
        "synthesized_images": final["images"],
        "peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "replay_bytes": 0 if replay is None else replay.memory_bytes,
        # A uint8 ImagePool keeping every new image the student learnt from.
        "equivalent_pool_bytes": final["images"] * image_bytes,
        **robustness(budget.curve),
        "method_config": {
            k: v
            for k, v in method.get_config().items()
            if k != "label_embeddings"  # Thousands of floats.
        },
        "command": " ".join(sys.argv),
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
    to_target = result["seconds_to_target"]
    print(
        f"{FLAGS.method} on {FLAGS.dataset}: teacher {teacher_accuracy:.4f}, "
        f"student {result['student_accuracy']:.4f} "
        f"({result['student_accuracy'] / teacher_accuracy:.1%} of teacher) "
        f"after {result['rounds']} rounds in {result['distill_seconds']} s; "
        f"{FLAGS.target_fraction:.0%} of the teacher after "
        f"{'never' if to_target is None else f'{to_target} s'}"
    )


def _backend_version():
    backend = keras.config.backend()
    module = __import__("jax" if backend == "jax" else backend)
    return module.__version__


if __name__ == "__main__":
    app.run(main)
