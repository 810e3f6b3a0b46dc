#!/usr/bin/env bash
# The seeds' comparative claims, measured side by side: TensorFlow, 600 s
# of distillation per run, MNIST digits and Fashion-MNIST, LeNet-5 (with
# BN, which the BN-statistics methods and CMI need) -> LeNet-5-half,
# three seeds per row (the teacher is the seed-0 recipe teacher for all).
#   nayer_speed:          NAYER, Fast, CMI, DeepInversion, BNStatistics
#   pre_dfkd_robustness:  PRE-DFKD, DFAD, CMI
#   large_scale_ensemble: LargeScale with 1 and with 4 generators
# Each method at its "<method>_lenet_cpu" preset (keras_dfkd/presets.py,
# where the CPU scaling is stated once). A run whose JSON exists is
# skipped, so the script can be run in pieces (touch ${out}/STOP to end
# it after the run in progress); CMI's robustness row reuses its
# nayer_speed run, which has the same command and seed; then
# `benchmarks/claims_table.py` writes benchmarks/results/claims.json and
# prints the tables.
# Usage: bash benchmarks/claims.sh [claim ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/claims
export KERAS_BACKEND=tensorflow
claims=("$@")
[ ${#claims[@]} -eq 0 ] && claims=(nayer_speed pre_dfkd_robustness large_scale_ensemble)

run() {  # claim label dataset seed [distill.py flags]
  local claim=$1 label=$2 dataset=$3 seed=$4
  shift 4
  local file="${out}/${claim}/${label}_${dataset}_s${seed}.json"
  [ -f "${file}" ] && return 0
  if [ -f "${out}/STOP" ]; then
    rm -f "${out}/STOP"; echo "claims.sh: stopped before ${file}"; exit 0
  fi
  mkdir -p "${out}/${claim}"
  local same="${out}/nayer_speed/${label}_${dataset}_s${seed}.json"
  if [ "${claim}" != nayer_speed ] && [ "${label}" = cmi ] && [ -f "${same}" ]; then
    cp "${same}" "${file}"; return 0
  fi
  .venv/bin/python benchmarks/distill.py --teacher=lenet5 \
    --student=lenet5_half --teacher_seed=0 --seed="${seed}" \
    --budget_seconds=600 --eval_seconds=10 --target_fraction=0.9 \
    --dataset="${dataset}" --label="${label}" --output="${file}" "$@"
}

for claim in "${claims[@]}"; do
  for dataset in mnist fashion_mnist; do
    for seed in 0 1 2; do
      case "${claim}" in
        nayer_speed)
          for method in nayer fast cmi deep_inversion bn_statistics; do
            run "${claim}" "${method}" "${dataset}" "${seed}" \
              --method="${method}"
          done ;;
        pre_dfkd_robustness)
          for method in pre_dfkd dfad cmi; do
            run "${claim}" "${method}" "${dataset}" "${seed}" \
              --method="${method}"
          done ;;
        large_scale_ensemble)
          for members in 1 4; do
            run "${claim}" "large_scale_${members}" "${dataset}" "${seed}" \
              --method=large_scale --ensemble="${members}"
          done ;;
        *) echo "unknown claim ${claim}" >&2; exit 2 ;;
      esac
    done
  done
done
.venv/bin/python benchmarks/claims_table.py "${out}"/*/*.json
