"""Prints a Markdown results table from benchmark JSON files.

python benchmarks/results_table.py results/*.json
python benchmarks/results_table.py --robustness results/pre_dfkd_*.json
python benchmarks/results_table.py --throughput results/throughput_*.json
"""

import json
import sys


def _seconds_to_target(result, key):
    if key not in result:
        return "n/a"
    seconds = result[key]
    return "not reached" if seconds is None else f"{seconds:.0f}"


def main(paths):
    rows = [
        "| method | dataset | teacher -> student | teacher acc | "
        "student acc (final) | student / teacher | s to 95 % of teacher "
        "(wall / CPU) | "
        "best seen (not the result) | rounds | distill s | replay MB | "
        "backend |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        if r.get("benchmark") == "throughput":
            continue  # Listed by --throughput.
        rows.append(
            f"| {r.get('label', r['method'])} | {r['dataset']} | "
            f"{r['teacher']} -> {r['student']} | "
            f"{r['teacher_accuracy']:.4f} | {r['student_accuracy']:.4f} | "
            f"{r['student_accuracy'] / r['teacher_accuracy']:.1%} | "
            f"{_seconds_to_target(r, 'seconds_to_target')} / "
            f"{_seconds_to_target(r, 'cpu_seconds_to_target')} | "
            f"{r['best_student_accuracy']:.4f} | {r['rounds']} | "
            f"{r['distill_seconds']:.0f} | "
            f"{r.get('replay_bytes', 0) / 2**20:.1f} | {r['backend']} |"
        )
    print("\n".join(rows))


def robustness(paths):
    """Accuracy over the run after warmup, and replay memory."""
    rows = [
        "| method | dataset | final acc | final / teacher | mean acc after "
        "warmup | variance (acc %^2) | largest drop (points) | replay MB | "
        "uint8 pool of the same images, MB | replay / pool |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        replay, pool = r.get("replay_bytes", 0), r["equivalent_pool_bytes"]
        rows.append(
            f"| {r.get('label', r['method'])} | {r['dataset']} | "
            f"{r['student_accuracy']:.4f} | "
            f"{r['student_accuracy'] / r['teacher_accuracy']:.1%} | "
            f"{r['accuracy_mean']:.4f} | "
            f"{r['accuracy_variance'] * 1e4:.1f} | "
            f"{r['largest_drop'] * 100:.1f} | {replay / 2**20:.1f} | "
            f"{pool / 2**20:.0f} | {replay / pool:.2%} |"
        )
    print("\n".join(rows))


def throughput(paths):
    """Rounds and images per second of each stage, per backend/device."""
    rows = [
        "| backend | XLA | device | teacher -> student | batch | generators "
        "| stage 1 rounds/s | stage 1 images/s | stage 2 rounds/s | "
        "stage 2 images/s | first round s (compile) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        one, two = r["stage_1"], r["stage_2"]
        # Results from before the flag: TF on CPU ran without XLA ("auto").
        xla = "yes" if r.get("jit_compile", r["backend"] == "jax") else "no"
        rows.append(
            f"| {r['backend']} | {xla} | {r['device']} | {r['teacher']} -> "
            f"{r['student']} | {r['batch_size']} | {r['ensemble']} | "
            f"{one['rounds_per_second']} | {one['images_per_second']} | "
            f"{two['rounds_per_second']} | {two['images_per_second']} | "
            f"{r['first_round_seconds']} |"
        )
    print("\n".join(rows))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--robustness"]:
        robustness(sys.argv[2:])
    elif sys.argv[1:2] == ["--throughput"]:
        throughput(sys.argv[2:])
    else:
        main(sys.argv[1:])
