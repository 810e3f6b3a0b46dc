"""Label-text embeddings (LTE) of NAYER: a frozen table of class prompts."""

import numbers

import keras
import numpy as np
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.utils.text_encoding import DEFAULT_ENCODER
from keras_dfkd.utils.text_encoding import class_prompts
from keras_dfkd.utils.text_encoding import encode_texts


def _check_positive_int(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise ValueError(
            f"`{name}` must be a positive int. Received: {name}={value!r}"
        )
    return int(value)


@keras_dfkd_export("keras_dfkd.generators.LabelTextEmbedding")
class LabelTextEmbedding(keras.layers.Layer):
    """Frozen label-text embeddings: maps class labels to text embeddings.

    NAYER conditions its generator on the embedding of a text prompt such
    as `"a photo of a cat"` instead of a one-hot label: semantically close
    classes get close embeddings, which makes a better starting point for
    the generator. The layer holds the embeddings of all classes as a
    non-trainable weight `embeddings` of shape `(num_classes, embedding_dim)`
    and looks up one row per label, so the table is saved with the model's
    weights in `.keras` files while the config only records its shape.

    Formula:

    ```python
    outputs = embeddings[labels]  # (N,) -> (N, embedding_dim)
    ```

    Build the layer from class names with `from_class_names` or from a
    dataset name with `from_dataset`; both encode the prompts with
    `keras_dfkd.utils.encode_texts` (offline by default, with a
    sentence-transformers model; NAYER uses CLIP ViT-B/32, available as the
    keras-hub preset `"clip_vit_base_patch32"`, which is downloaded).

    Args:
        num_classes: positive int, the number of classes (rows).
        embedding_dim: positive int, the embedding size (columns).
        embeddings: optional array-like of shape
            `(num_classes, embedding_dim)`, the table. Defaults to `None`
            (zeros, e.g. before weights are loaded).
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        labels: int tensor of class indices in `[0, num_classes)`, usually
            of shape `(N,)`.

    Returns:
        A float tensor of shape `labels.shape + (embedding_dim,)`.

    Example:

    ```python
    lte = keras_dfkd.generators.LabelTextEmbedding.from_dataset("cifar10")
    lte.embeddings.shape  # (10, 384)
    conditions = lte(np.array([3, 5]))  # "cat", "dog" -> (2, 384)
    ```

    Reference:
        - [Tran et al., 2024. NAYER: Noisy Layer Data Generation for
          Efficient and Effective Data-free Knowledge
          Distillation](https://arxiv.org/abs/2310.00258)
    """

    def __init__(self, num_classes, embedding_dim, embeddings=None, **kwargs):
        num_classes = _check_positive_int(num_classes, "num_classes")
        embedding_dim = _check_positive_int(embedding_dim, "embedding_dim")
        if embeddings is not None:
            embeddings = self._check_embeddings(
                embeddings, num_classes, embedding_dim
            )
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.embeddings = self.add_weight(
            shape=(num_classes, embedding_dim),
            initializer="zeros",
            trainable=False,
            name="embeddings",
        )
        if embeddings is not None:
            self.embeddings.assign(embeddings)
        self.built = True

    @staticmethod
    def _check_embeddings(embeddings, num_classes, embedding_dim):
        expected = (num_classes, embedding_dim)
        try:
            if ops.is_tensor(embeddings):
                embeddings = ops.convert_to_numpy(embeddings)
            array = np.asarray(embeddings)
        except (TypeError, ValueError) as e:
            raise ValueError(
                "`embeddings` must be a 2-D array of shape "
                f"(num_classes, embedding_dim) = {expected}. "
                f"Received an object that is not an array: {e}"
            ) from e
        if array.ndim != 2 or tuple(array.shape) != expected:
            raise ValueError(
                "`embeddings` must be a 2-D array of shape "
                f"(num_classes, embedding_dim) = {expected}. "
                f"Received shape {tuple(array.shape)}."
            )
        if not np.issubdtype(array.dtype, np.number):
            raise ValueError(
                f"`embeddings` must be numeric. Received dtype {array.dtype}."
            )
        return array.astype("float32")

    @classmethod
    def from_class_names(
        cls,
        class_names,
        encoder=DEFAULT_ENCODER,
        prompt_template="a photo of a {}",
        cache_dir=None,
        **kwargs,
    ):
        """Creates the layer by encoding one prompt per class name.

        Args:
            class_names: list or tuple of str, the class names in label
                order. Underscores and hyphens become spaces.
            encoder: str, the text encoder (see
                `keras_dfkd.utils.encode_texts`). Defaults to
                `"all_minilm_l6_v2"` (offline, 384-d).
            prompt_template: str with one `{}` placeholder. Defaults to
                `"a photo of a {}"`.
            cache_dir: the embedding cache folder (see
                `keras_dfkd.utils.encode_texts`). Defaults to `None`.
            **kwargs: further arguments of the constructor, such as
                `name`. `num_classes` and `embedding_dim`, when given,
                must match the class names and the encoder.

        Returns:
            A `LabelTextEmbedding` whose row `k` embeds
            `prompt_template.format(class_names[k])`.
        """
        prompts = class_prompts(class_names, prompt_template)
        num_classes = kwargs.pop("num_classes", len(prompts))
        if num_classes != len(prompts):
            raise ValueError(
                f"`num_classes={num_classes}` does not match the "
                f"{len(prompts)} class names."
            )
        embeddings = encode_texts(prompts, encoder=encoder, cache_dir=cache_dir)
        embedding_dim = kwargs.pop("embedding_dim", embeddings.shape[1])
        if embedding_dim != embeddings.shape[1]:
            raise ValueError(
                f"`embedding_dim={embedding_dim}` does not match the "
                f"encoder {encoder!r}, whose embeddings have size "
                f"{embeddings.shape[1]}."
            )
        return cls(
            num_classes=len(prompts),
            embedding_dim=embeddings.shape[1],
            embeddings=embeddings,
            **kwargs,
        )

    @classmethod
    def from_dataset(
        cls,
        name,
        /,
        encoder=DEFAULT_ENCODER,
        prompt_template="a photo of a {}",
        cache_dir=None,
        **kwargs,
    ):
        """Creates the layer from the class names of a known dataset.

        Args:
            name: str, a dataset of `keras_dfkd.datasets.get_info`
                (`"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"cifar100"`,
                `"svhn"`).
            encoder: str, the text encoder. Defaults to
                `"all_minilm_l6_v2"`.
            prompt_template: str with one `{}` placeholder. Defaults to
                `"a photo of a {}"`.
            cache_dir: the embedding cache folder. Defaults to `None`.
            **kwargs: further arguments of the constructor, such as
                `name` (the layer's name: `name` is positional-only here).

        Returns:
            A `LabelTextEmbedding` with one row per class of the dataset.
        """
        from keras_dfkd.datasets import get_info

        return cls.from_class_names(
            list(get_info(name).class_names),
            encoder=encoder,
            prompt_template=prompt_template,
            cache_dir=cache_dir,
            **kwargs,
        )

    def call(self, labels):
        labels = ops.convert_to_tensor(labels)
        if "int" not in keras.backend.standardize_dtype(labels.dtype):
            labels = ops.cast(labels, "int32")
        return ops.take(self.embeddings, labels, axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim,
            }
        )
        return config
