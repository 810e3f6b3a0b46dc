#!/usr/bin/env bash
# Large-Scale Generative DFD with an ensemble of 1 against 4 generators, one
# after the other in one run (TensorFlow, 600 s of distillation each, both
# stages inside the budget), on MNIST digits and Fashion-MNIST.
# Writes benchmarks/results/large_scale_*.json.
# Usage: bash benchmarks/large_scale_ensembles.sh [budget_seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-600}"
out=benchmarks/results
export KERAS_BACKEND=tensorflow
# The "large_scale_lenet_cpu" preset (keras_dfkd/presets.py: width 16,
# 200 stage-1 rounds, 5 student steps per round, batch 256 split among the
# members in stage 1) with 1 or 4 members.
for dataset in mnist fashion_mnist; do
  for n in 1 4; do
    .venv/bin/python benchmarks/distill.py --method=large_scale --ensemble="${n}" \
      --label="large_scale_${n}" --dataset="${dataset}" --teacher=lenet5 \
      --student=lenet5_half --budget_seconds="${budget}" --eval_seconds=10 \
      --seed=0 --output="${out}/large_scale_${n}_${dataset}_tensorflow.json"
  done
done
.venv/bin/python benchmarks/results_table.py "${out}"/large_scale_*.json
