"""Prints a Markdown results table from benchmark JSON files.

python benchmarks/results_table.py results/*.json
"""

import json
import sys


def main(paths):
    rows = [
        "| method | dataset | teacher -> student | teacher acc | "
        "student acc (final) | student / teacher | best seen (not the "
        "result) | rounds | distill s | backend |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        with open(path) as f:
            r = json.load(f)
        rows.append(
            f"| {r['method']} | {r['dataset']} | {r['teacher']} -> "
            f"{r['student']} | {r['teacher_accuracy']:.4f} | "
            f"{r['student_accuracy']:.4f} | "
            f"{r['student_accuracy'] / r['teacher_accuracy']:.1%} | "
            f"{r['best_student_accuracy']:.4f} | {r['rounds']} | "
            f"{r['distill_seconds']:.0f} | {r['backend']} |"
        )
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
