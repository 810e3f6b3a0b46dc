#!/usr/bin/env bash
# PRE-DFKD against DFAD without replay, one after the other in one run
# (TensorFlow, 600 s of distillation each, MNIST digits and Fashion-MNIST),
# plus DFAD with PRE-DFKD's VAE replay (PRE-DFAD) on MNIST.
# Writes benchmarks/results/*.json and prints the robustness table.
# Usage: bash benchmarks/pre_dfkd_vs_dfad.sh [budget_seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-600}"
out=benchmarks/results
export KERAS_BACKEND=tensorflow
run() {
  .venv/bin/python benchmarks/distill.py --teacher=lenet5 --student=lenet5_half \
    --budget_seconds="${budget}" --eval_seconds=10 --seed=0 "$@"
}
# Each method at its "<method>_lenet_cpu" preset (keras_dfkd/presets.py);
# PRE-DFAD is DFAD's with PRE-DFKD's VAE replay at PRE-DFKD's preset.
for dataset in mnist fashion_mnist; do
  run --method=dfad --dataset="${dataset}" \
    --output="${out}/dfad_${dataset}_tensorflow.json"
  run --method=pre_dfkd --dataset="${dataset}" \
    --output="${out}/pre_dfkd_${dataset}_tensorflow.json"
done
run --method=dfad --label=pre_dfad --dataset=mnist --replay=vae \
  --output="${out}/pre_dfad_mnist_tensorflow.json"
.venv/bin/python benchmarks/results_table.py --robustness \
  "${out}"/dfad_*_tensorflow.json "${out}"/pre_*_tensorflow.json
