#!/usr/bin/env bash
# Installs everything the test suite needs and runs it once per backend.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[tensorflow,jax,tensorflow-datasets,dev]"
bash scripts/install_offline_data.sh

# Teachers trained by the end-to-end tests are shared by both backends' runs.
export KERAS_DFKD_TEST_CACHE="${KERAS_DFKD_TEST_CACHE:-$(mktemp -d)}"
status=0
for backend in tensorflow jax; do
  echo "=== KERAS_BACKEND=${backend} ==="
  KERAS_BACKEND="${backend}" .venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=1
done
exit "${status}"
