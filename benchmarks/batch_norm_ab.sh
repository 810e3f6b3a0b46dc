#!/usr/bin/env bash
# A/B: BatchNorm in the teacher and in the student, for DAFL, DFAD and
# PRE-DFKD on MNIST digits (TensorFlow, each method at its
# "<method>_lenet_cpu" preset, a budget of rounds rather than seconds so
# that two runs may share the machine). Three pairs per method: the
# papers' (LeNet-5 -> LeNet-5-half, no BN), a student with BN, and a
# teacher with BN (this project's recipe LeNet-5).
# Writes benchmarks/results/batch_norm_ab/*.json and prints the table.
# Usage: bash benchmarks/batch_norm_ab.sh [parallel runs, default 2]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${1:-2}"
out=benchmarks/results/batch_norm_ab
mkdir -p "${out}"
export KERAS_BACKEND=tensorflow
run() {
  local method=$1 rounds=$2 teacher=$3 student=$4
  .venv/bin/python benchmarks/distill.py --method="${method}" \
    --dataset=mnist --teacher="${teacher}" --student="${student}" \
    --budget_rounds="${rounds}" --eval_rounds=$((rounds / 20)) --seed=0 \
    --label="${method}_${teacher}_${student}" \
    --output="${out}/${method}_${teacher}_${student}.json" > /dev/null
}
export -f run
export out
for spec in "dafl 1500" "dfad 800" "pre_dfkd 300"; do
  set -- ${spec}
  for pair in "lenet5_no_bn lenet5_half_no_bn" "lenet5_no_bn lenet5_half" \
    "lenet5 lenet5_half_no_bn"; do
    echo "$1 $2 ${pair}"
  done
done | xargs -P "${jobs}" -L 1 bash -c 'run "$@"' _
.venv/bin/python benchmarks/results_table.py "${out}"/*.json
