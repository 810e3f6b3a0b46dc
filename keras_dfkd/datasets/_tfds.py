"""Optional TensorFlow Datasets source, imported lazily.

`tfds.load` on a dataset that is not prepared tries to download it (and
retries for minutes without network), so it is only called when the data is
already prepared locally (`DatasetBuilder.is_prepared()`) or when the caller
explicitly asked for `download=True`.
"""

import os
import sys

import numpy as np


def import_tfds():
    """Returns the `tensorflow_datasets` module, or None if not installed."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return None
    return tfds


def candidate_data_dirs(data_dir=None):
    """The local folders tfds reads from when `data_dir` is `data_dir`."""
    if data_dir:
        return [os.fspath(data_dir)]
    default = os.environ.get("TFDS_DATA_DIR") or os.path.join(
        "~", "tensorflow_datasets"
    )
    return [os.path.expanduser(default)]


def may_be_prepared(tfds_name, data_dir=None):
    """Cheap check, without importing tfds, that tfds data may exist.

    False means "certainly not prepared", so that looking for data never pays
    for importing tensorflow_datasets when it has no data anyway.
    """
    if "tensorflow_datasets" in sys.modules:
        return True  # tfds may have registered extra data dirs; ask it.
    for directory in candidate_data_dirs(data_dir):
        if "://" in directory:  # Remote (e.g. GCS) data dir: ask tfds.
            return True
        if os.path.isdir(os.path.join(directory, tfds_name)):
            return True
    return False


def is_prepared(tfds, tfds_name, data_dir=None):
    """Whether tfds has `tfds_name` prepared locally (never downloads)."""
    try:
        return bool(tfds.builder(tfds_name, data_dir=data_dir).is_prepared())
    except Exception:  # Unknown/broken builder or unreadable data dir.
        return False


def load_split(tfds, tfds_name, split, data_dir=None, download=False):
    """Loads one split as numpy `(uint8 images, int64 labels)`."""
    dataset = tfds.load(
        tfds_name,
        split=split,
        batch_size=-1,
        as_supervised=True,
        data_dir=data_dir,
        download=download,
    )
    images, labels = tfds.as_numpy(dataset)
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    return images, np.asarray(labels, dtype=np.int64)
