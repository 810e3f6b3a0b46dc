"""Prints a Markdown results table from benchmark JSON files.

python benchmarks/results_table.py results/*.json
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


if __name__ == "__main__":
    main(sys.argv[1:])
