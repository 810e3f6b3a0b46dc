#!/usr/bin/env bash
# Issue 20's experiment: JAX step_time.py with 1, 4 (main) or 8 KD steps
# per compiled call, and with glibc kept from unmapping. The step counts
# come from steps_per_call_env.patch, applied to a scratch worktree of
# 59a30bf, the last commit whose keras_dfkd/backend/jax.py (blob eeb8e04)
# it applies to: main now runs one step per call. Run on a quiet machine;
# about 10 minutes on 2 cores.
#   bash benchmarks/results/issue20/kd_exp.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
repo=${PWD}
here=${repo}/benchmarks/results/issue20
tree=$(mktemp -d)
git worktree add -q --detach "${tree}" 59a30bf
trap 'git -C "${repo}" worktree remove --force "${tree}"' EXIT
git -C "${tree}" apply "${here}/steps_per_call_env.patch"
export KERAS_BACKEND=jax
st() {  # name
  (cd "${tree}" && "${repo}/.venv/bin/python" benchmarks/step_time.py \
    --preset=nayer_mnist_step --output="${here}/step_time_jax_$1.json" \
    2>&1 | tail -1)
}
echo "base:"; st base
echo "kd1:"; DFKD_KD_STEPS=1 st kd1
echo "kd8:"; DFKD_KD_STEPS=8 st kd8
echo "nounmap:"
MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184 \
  MALLOC_TOP_PAD_=268435456 st nounmap
