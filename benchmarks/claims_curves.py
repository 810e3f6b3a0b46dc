"""Draws the claims runs' accuracy curves, one picture per claim.

    pip install matplotlib
    python benchmarks/claims_curves.py benchmarks/results/claims

For each claim directory of `benchmarks/claims.sh` runs, writes
`<claim>.png` beside it: one panel per dataset, student accuracy against
seconds of distillation (log scale), every seed as a thin line and the
mean over the seeds (interpolated at common times) as a thick one, with
the teacher's accuracy and 90 % of it as dashed lines. The y axis spans
every accuracy after the first 60 s (the warmup `distill.py` leaves out
of its mean and variance); earlier, lower points fall below it.
"""

import collections
import glob
import json
import os
import sys

import numpy as np

try:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
except ImportError:  # pragma: no cover - a benchmark-only dependency
    sys.exit("claims_curves.py draws with matplotlib: pip install matplotlib")

DATASETS = ("mnist", "fashion_mnist")
#: The y axis shows every accuracy after the warmup the claims' means skip.
WARMUP = 60.0


def load(directory):
    """{dataset: {label: [run, ...]}} for the run JSONs in `directory`."""
    runs = collections.defaultdict(lambda: collections.defaultdict(list))
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path) as f:
            run = json.load(f)
        runs[run["dataset"]][run["label"]].append(run)
    return runs


def mean_curve(runs):
    """Mean accuracy over the seeds at times every seed has reached."""
    end = min(r["curve"][-1]["seconds"] for r in runs)
    start = max(r["curve"][0]["seconds"] for r in runs)
    times = np.linspace(start, end, 200)
    values = [
        np.interp(
            times,
            [p["seconds"] for p in r["curve"]],
            [p["student_accuracy"] for p in r["curve"]],
        )
        for r in runs
    ]
    return times, 100 * np.mean(values, axis=0)


def draw(directory):
    runs = load(directory)
    datasets = [d for d in DATASETS if d in runs]
    if not datasets:
        return None
    claim = os.path.basename(os.path.normpath(directory))
    figure, axes = pyplot.subplots(
        1, len(datasets), figsize=(6.4 * len(datasets), 4.6), squeeze=False
    )
    for axis, dataset in zip(axes[0], datasets):
        first = next(iter(runs[dataset].values()))[0]
        teacher = 100 * first["teacher_accuracy"]
        lowest = teacher
        for index, (label, seeds) in enumerate(sorted(runs[dataset].items())):
            color = f"C{index}"
            for run in seeds:
                seconds = [p["seconds"] for p in run["curve"]]
                accuracy = [100 * p["student_accuracy"] for p in run["curve"]]
                axis.plot(seconds, accuracy, color=color, lw=0.6, alpha=0.45)
                lowest = min(
                    [lowest]
                    + [a for t, a in zip(seconds, accuracy) if t >= WARMUP]
                )
            times, mean = mean_curve(seeds)
            legend = f"{label} ({len(seeds)} seeds)"
            axis.plot(times, mean, color=color, lw=2.0, label=legend)
        axis.axhline(teacher, color="black", ls="--", lw=0.8, label="teacher")
        axis.axhline(
            0.9 * teacher, color="grey", ls=":", lw=1.0, label="90 % of teacher"
        )
        axis.set_xscale("log")
        axis.set_ylim(max(lowest - 2, 0), teacher + 2)
        axis.set_xlabel("seconds of distillation (log)")
        axis.set_ylabel("student test accuracy (%)")
        axis.set_title(f"{claim}: {dataset}")
        axis.grid(True, which="both", alpha=0.25)
        axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    root = os.path.dirname(os.path.normpath(directory))
    path = os.path.join(root, f"{claim}.png")
    figure.savefig(path, dpi=80)
    pyplot.close(figure)
    return path


def main(root):
    for directory in sorted(glob.glob(os.path.join(root, "*", ""))):
        path = draw(directory)
        if path:
            print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/claims")
