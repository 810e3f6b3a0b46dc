#!/usr/bin/env bash
# The GPU rows, in one short run (at most about 8 minutes on one GPU):
# step_time.py at CIFAR scale (NAYER, ResNet-34 -> ResNet-18, synthesis
# batch 100 and 400) and throughput.py (LargeScale, 4 generators) on the
# JAX backend, and the same step times on TensorFlow when it is
# installed. For a machine that has JAX but neither Keras nor
# TensorFlow, the wheels of keras, namex and optree (what such an image
# lacks of Keras's needs) in $WHEELS (default .whl/, see README "On a
# GPU") are installed into /tmp/site first.
# Writes benchmarks/results/*_gpu.json (or into $OUT when it is set).
# Usage: bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${WHEELS:-.whl}"
out="${OUT:-benchmarks/results}"
rounds="${ROUNDS:-10}"
export PYTHONUNBUFFERED=1
if ! python3 -c "import keras" 2> /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target /tmp/site "${wheels}"/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="${PWD}:${PYTHONPATH:-}"
mkdir -p "${out}"
backends=(jax)
python3 -c "import tensorflow" 2> /dev/null && backends+=(tensorflow)
for backend in "${backends[@]}"; do
  for preset in nayer_cifar_step_100 nayer_cifar_step_400; do
    KERAS_BACKEND="${backend}" python3 benchmarks/step_time.py \
      --preset="${preset}" --rounds="${rounds}" \
      --output="${out}/step_time_${preset}_${backend}_gpu.json"
  done
done
KERAS_BACKEND=jax python3 benchmarks/throughput.py --rounds="${rounds}" \
  --output="${out}/throughput_jax_gpu.json"
