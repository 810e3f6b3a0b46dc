#!/usr/bin/env bash
# JAX step_time in the experiment worktree: KD steps per call, and glibc
# kept from unmapping. Sequential, on a quiet machine.
cd /tmp/exprepo
export KERAS_BACKEND=jax
py=/work/main/.venv/bin/python
st() { "$py" benchmarks/step_time.py --preset=nayer_mnist_step --output=/tmp/exp/$1.json 2>&1 | tail -1; }
echo "base:";  st base
echo "kd1:";   DFKD_KD_STEPS=1 st kd1
echo "kd8:";   DFKD_KD_STEPS=8 st kd8
echo "nounmap:"; MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_TOP_PAD_=268435456 st nounmap
