"""Readers for the standard offline formats of MNIST, CIFAR and SVHN."""

import os
import pickle

import numpy as np

# --- MNIST `mnist.npz` (the file `keras.datasets.mnist` caches) -------------


def load_mnist_npz(path, split):
    """Loads `(images, labels)` of one split from a Keras `mnist.npz`."""
    with np.load(path, allow_pickle=False) as f:
        images = f[f"x_{split}"]
        labels = f[f"y_{split}"]
    return images.astype(np.uint8)[..., None], labels.astype(np.int64)


# --- CIFAR, python version (`cifar-10-batches-py`, `cifar-100-python`) -----

CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
CIFAR100_FILES = {"train": ("train",), "test": ("test",)}

# Rebuilding the numpy arrays of a CIFAR pickle needs exactly these globals;
# anything else (`os.system`, `builtins.eval`, ...) is refused so that a
# tampered file cannot run code.
_ALLOWED_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refusing to unpickle `{module}.{name}` from a CIFAR batch file."
        )


def has_files(directory, names):
    return bool(directory) and all(
        os.path.isfile(os.path.join(directory, n)) for n in names
    )


def _read_cifar_batch(path, label_key):
    with open(path, "rb") as f:
        batch = _RestrictedUnpickler(f, encoding="bytes").load()
    batch = {
        (k.decode("utf-8") if isinstance(k, bytes) else k): v
        for k, v in batch.items()
    }
    data = np.asarray(batch["data"], dtype=np.uint8)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    return images, labels


def load_cifar_split(directory, split, num_classes):
    """Loads one split from a `cifar-10-batches-py`/`cifar-100-python` dir.

    CIFAR-100 uses the 100 fine labels.
    """
    if num_classes == 10:
        names, label_key = CIFAR10_FILES[split], "labels"
    else:
        names, label_key = CIFAR100_FILES[split], "fine_labels"
    parts = [
        _read_cifar_batch(os.path.join(directory, n), label_key) for n in names
    ]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))
    labels = np.concatenate([p[1] for p in parts])
    return images, labels


# --- SVHN cropped digits (`train_32x32.mat`, ...) --------------------------


def svhn_file(split):
    return f"{split}_32x32.mat"


def load_svhn_mat(path):
    """Loads an SVHN `*_32x32.mat` file; label 10 (digit 0) becomes 0."""
    from scipy import io as scipy_io

    mat = scipy_io.loadmat(path)
    images = np.ascontiguousarray(
        np.transpose(mat["X"], (3, 0, 1, 2)).astype(np.uint8)
    )
    labels = np.asarray(mat["y"], dtype=np.int64).reshape(-1) % 10
    return images, labels
