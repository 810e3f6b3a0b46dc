#!/usr/bin/env bash
# NAYER against the BN-statistics generator baseline, one after the other in
# one run (TensorFlow, 600 s of distillation each), plus NAYER with one-hot
# labels instead of text embeddings. Writes benchmarks/results/*.json.
# Usage: bash benchmarks/nayer_vs_bn_statistics.sh [budget_seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-600}"
out=benchmarks/results
export KERAS_BACKEND=tensorflow
run() {
  .venv/bin/python benchmarks/distill.py --teacher=lenet5 --student=lenet5_half \
    --budget_seconds="${budget}" --eval_seconds=10 --seed=0 "$@"
}
# Each method at its "<method>_lenet_cpu" preset (keras_dfkd/presets.py).
for dataset in mnist fashion_mnist; do
  run --method=bn_statistics --dataset="${dataset}" \
    --output="${out}/bn_statistics_${dataset}_tensorflow.json"
  run --method=nayer --dataset="${dataset}" \
    --output="${out}/nayer_${dataset}_tensorflow.json"
done
run --method=nayer --label=nayer_one_hot --dataset=mnist \
  --method_kwargs='{"label_embeddings": "one_hot"}' \
  --output="${out}/nayer_one_hot_mnist_tensorflow.json"
.venv/bin/python benchmarks/results_table.py "${out}"/*.json
