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
    --budget_seconds="${budget}" --eval_seconds=10 --seed=0 --batch_size=256 \
    --generator_width=16 --student_steps=5 "$@"
}
# PRE-DFKD for 28-32 px grayscale on a CPU (see the PreDFKD docstring);
# cosine decay of the student's learning rate over about the rounds of the
# budget.
pre='"latent_dim": 256, "vae_latent_dim": 256, "vae_width": 16,
  "replay_steps": 2, "decay_rounds": 400'
for dataset in mnist fashion_mnist; do
  run --method=dfad --dataset="${dataset}" \
    --output="${out}/dfad_${dataset}_tensorflow.json"
  run --method=pre_dfkd --dataset="${dataset}" --method_kwargs="{${pre}}" \
    --output="${out}/pre_dfkd_${dataset}_tensorflow.json"
done
run --method=dfad --label=pre_dfad --dataset=mnist --replay=vae \
  --method_kwargs='{"replay_steps": 2}' --output="${out}/pre_dfad_mnist_tensorflow.json"
.venv/bin/python benchmarks/results_table.py --robustness \
  "${out}"/dfad_*_tensorflow.json "${out}"/pre_*_tensorflow.json
