"""Reader for the idx format of (Fashion-)MNIST, plain or gzip-compressed."""

import gzip
import os

import numpy as np

# Third byte of the magic number -> element type (big-endian).
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# (split, kind) -> file stems, as published by LeCun and Zalando.
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def parse_idx(buffer):
    """Parses the bytes of an idx file into a numpy array.

    The header is two zero bytes, a type code, the number of dimensions and
    one big-endian uint32 per dimension; the data follows in C order.

    Args:
        buffer: bytes. The (decompressed) content of an idx file.

    Returns:
        A numpy array of the stored shape, in native byte order.
    """
    if len(buffer) < 4 or buffer[0] != 0 or buffer[1] != 0:
        raise ValueError("Not an idx file: bad magic number.")
    type_code, ndim = buffer[2], buffer[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"Not an idx file: unknown type code {type_code:#x}.")
    header_size = 4 + 4 * ndim
    if len(buffer) < header_size:
        raise ValueError("Truncated idx header.")
    shape = tuple(
        int(d) for d in np.frombuffer(buffer, ">u4", count=ndim, offset=4)
    )
    dtype = _IDX_DTYPES[type_code]
    count = int(np.prod(shape, dtype=np.int64))
    if len(buffer) - header_size != count * dtype.itemsize:
        raise ValueError(
            f"idx file size does not match its header shape {shape}: "
            f"{len(buffer) - header_size} data bytes, expected "
            f"{count * dtype.itemsize}."
        )
    array = np.frombuffer(buffer, dtype, count=count, offset=header_size)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_idx(path):
    """Reads an idx file (`.gz` or uncompressed) into a numpy array."""
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as g:
                buffer = g.read()
        else:
            buffer = f.read()
    return parse_idx(buffer)


def find_idx_file(directory, stem):
    """Returns the path of `stem` or `stem.gz` in `directory`, or None."""
    for candidate in (stem + ".gz", stem):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def has_idx_dataset(directory):
    """Whether `directory` holds all four (Fashion-)MNIST idx files."""
    return all(
        find_idx_file(directory, stem) is not None
        for stem in IDX_FILES.values()
    )


def load_idx_split(directory, split):
    """Loads `(images, labels)` of one split from a folder of idx files.

    Returns:
        `images` as uint8 `(N, 28, 28, 1)` and `labels` as int64 `(N,)`.
    """
    images = read_idx(find_idx_file(directory, IDX_FILES[(split, "images")]))
    labels = read_idx(find_idx_file(directory, IDX_FILES[(split, "labels")]))
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"Unexpected idx shapes in {directory}: images {images.shape}, "
            f"labels {labels.shape}."
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{directory}: {images.shape[0]} images but "
            f"{labels.shape[0]} labels for split {split!r}."
        )
    images = images.astype(np.uint8, copy=False)[..., None]
    return images, labels.astype(np.int64)
