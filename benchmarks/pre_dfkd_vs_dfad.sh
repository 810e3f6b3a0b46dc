#!/usr/bin/env bash
# PRE-DFKD against DFAD without replay and against DAFL, one after the
# other in one run (TensorFlow, 600 s of distillation each, MNIST digits
# and Fashion-MNIST), plus, on MNIST, DFAD with PRE-DFKD's VAE replay
# (PRE-DFAD) and PRE-DFKD without its memory-latent step.
# The papers' pair: LeNet-5 -> LeNet-5-half, neither with BatchNorm.
# Writes benchmarks/results/*.json and prints the robustness table.
# Usage: bash benchmarks/pre_dfkd_vs_dfad.sh [budget_seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-600}"
out=benchmarks/results
export KERAS_BACKEND=tensorflow
run() {
  .venv/bin/python benchmarks/distill.py --teacher=lenet5_no_bn \
    --student=lenet5_half_no_bn --budget_seconds="${budget}" \
    --eval_seconds=10 --seed=0 "$@"
}
# Each method at its "<method>_lenet_cpu" preset (keras_dfkd/presets.py);
# PRE-DFAD is DFAD's with PRE-DFKD's VAE replay at PRE-DFKD's preset.
for dataset in mnist fashion_mnist; do
  for method in dfad pre_dfkd dafl; do
    run --method="${method}" --dataset="${dataset}" \
      --output="${out}/${method}_${dataset}_tensorflow.json"
  done
done
run --method=dfad --label=pre_dfad --dataset=mnist --replay=vae \
  --output="${out}/pre_dfad_mnist_tensorflow.json"
run --method=pre_dfkd --label=pre_dfkd_no_latent_step --dataset=mnist \
  --method_kwargs='{"memory_latent_step": false}' \
  --output="${out}/pre_dfkd_no_latent_step_mnist_tensorflow.json"
.venv/bin/python benchmarks/results_table.py --robustness \
  "${out}"/dfad_*_tensorflow.json "${out}"/pre_*_tensorflow.json \
  "${out}"/dafl_*_tensorflow.json
