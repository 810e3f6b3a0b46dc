"""Collects `benchmarks/claims.sh` runs into claims.json and prints tables.

    python benchmarks/claims_table.py benchmarks/results/claims/*/*.json

Each run's JSON (from `benchmarks/distill.py`) becomes one row of
`benchmarks/results/claims.json`; the tables give, per claim, dataset and
method, the mean and standard deviation over the seeds.
"""

import collections
import json
import os
import statistics
import sys

OUTPUT = os.path.join(os.path.dirname(__file__), "results", "claims.json")


def seconds_to(result, fraction):
    """Distillation seconds until the student first reached `fraction`."""
    target = fraction * result["teacher_accuracy"]
    for point in result["curve"]:
        if point["student_accuracy"] >= target:
            return point["seconds"]
    return None


def row(path):
    with open(path) as f:
        r = json.load(f)
    return {
        "claim": os.path.basename(os.path.dirname(path)),
        "dataset": r["dataset"],
        "method": r["label"],
        "seed": int(r["command"].split("--seed=")[1].split()[0]),
        "teacher_accuracy": r["teacher_accuracy"],
        "student_accuracy": r["student_accuracy"],
        "seconds_to_90": seconds_to(r, 0.90),
        "seconds_to_95": seconds_to(r, 0.95),
        "accuracy_mean": r.get("accuracy_mean"),
        "accuracy_variance": r.get("accuracy_variance"),
        "largest_drop": r.get("largest_drop"),
        "best_student_accuracy": r["best_student_accuracy"],
        "rounds": r["rounds"],
    }


def _summary(values, scale=1.0, digits=1):
    """`mean +- std` of the values that exist, or the share that do."""
    present = [v * scale for v in values if v is not None]
    if not present:
        return "not reached"
    text = f"{statistics.mean(present):.{digits}f}"
    if len(present) > 1:
        text += f" +- {statistics.stdev(present):.{digits}f}"
    if len(present) < len(values):
        text += f" ({len(present)}/{len(values)} reached)"
    return text


def main(paths):
    rows = sorted(
        (row(p) for p in paths),
        key=lambda r: (r["claim"], r["dataset"], r["method"], r["seed"]),
    )
    with open(OUTPUT, "w") as f:
        json.dump({"rows": rows}, f, indent=1)
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["claim"], r["dataset"], r["method"])].append(r)
    claim = None
    for (name, dataset, method), runs in groups.items():
        if name != claim:
            claim = name
            print(
                f"\n{claim}\n| dataset | method | seeds | final acc (%) | "
                "s to 90 % | s to 95 % | mean after warmup (%) | "
                "variance (%^2) | largest drop (points) | final - best "
                "(points) |\n|---|---|---|---|---|---|---|---|---|---|"
            )
        column = lambda key: [r[key] for r in runs]  # noqa: E731
        print(
            f"| {dataset} | {method} | {len(runs)} | "
            f"{_summary(column('student_accuracy'), 100, 2)} | "
            f"{_summary(column('seconds_to_90'), 1, 0)} | "
            f"{_summary(column('seconds_to_95'), 1, 0)} | "
            f"{_summary(column('accuracy_mean'), 100, 2)} | "
            f"{_summary(column('accuracy_variance'), 1e4, 1)} | "
            f"{_summary(column('largest_drop'), 100, 1)} | "
            + _summary(
                [
                    r["student_accuracy"] - r["best_student_accuracy"]
                    for r in runs
                ],
                100,
                2,
            )
            + " |"
        )
    print(f"\nwrote {OUTPUT} ({len(rows)} runs)")


if __name__ == "__main__":
    main(sys.argv[1:])
