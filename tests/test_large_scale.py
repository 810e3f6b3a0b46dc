"""Large-Scale Generative DFD: conditional generators, ensemble, stages."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd import datasets
from keras_dfkd.generators import Generator
from keras_dfkd.generators import GeneratorEnsemble
from keras_dfkd.testing import small_net
from keras_dfkd.testing import to_numpy


def make_distiller(seed=0, teacher=None, student=None, **overrides):
    keras.utils.set_random_seed(seed)
    kwargs = dict(
        batch_size=16,
        ensemble_size=2,
        generator_rounds=2,
        generator_width=4,
        latent_dim=8,
        student_steps=2,
        seed=1,
    )
    kwargs.update(overrides)
    return keras_dfkd.DataFreeDistiller(
        teacher or small_net(8, "teacher"),
        student or small_net(4, "student"),
        keras_dfkd.methods.LargeScale(**kwargs),
    )


@pytest.mark.parametrize(
    "image_shape, upsamples",
    [((28, 28, 1), 2), ((32, 32, 3), 2), ((64, 64, 3), 3), ((224, 224, 3), 5)],
)
def test_conditional_generator_shapes_and_ranges(image_shape, upsamples):
    keras.utils.set_random_seed(0)
    generator = Generator.luo(image_shape, 10, latent_dim=16, width=4)
    assert generator.num_upsamples == upsamples
    noise = keras.random.normal((8, 16), seed=1)
    labels = np.arange(8) % 10
    train = to_numpy(generator([noise, labels], training=True))
    assert train.shape == (8,) + image_shape
    # The scale-only output BN standardises each channel of the batch.
    np.testing.assert_allclose(train.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    # Its epsilon (1e-3) makes the std sqrt(v / (v + 1e-3)), a little < 1.
    std = train.std(axis=(0, 1, 2))
    assert np.all(std <= 1.0 + 1e-4) and np.all(std > 0.9), std
    # In inference mode, fresh statistics leave tanh's range (gamma = 1).
    infer = to_numpy(generator([noise, labels], training=False))
    assert np.abs(infer).max() <= 1.0
    assert infer.std() > 0


def test_conditional_generator_condition_and_errors():
    keras.utils.set_random_seed(0)
    generator = Generator.luo((32, 32, 1), 10, latent_dim=8, width=4)
    noise = np.zeros((2, 8), "float32")
    images = to_numpy(generator([noise, np.array([0, 1])], training=False))
    assert not np.allclose(images[0], images[1])  # Only the label differs.
    # A stack that overshoots the size makes larger images, centre-cropped.
    deep = Generator.luo(
        (28, 28, 1), 10, latent_dim=8, width=4, num_upsamples=3
    )
    assert tuple(deep([noise, np.array([0, 1])]).shape) == (2, 28, 28, 1)
    with pytest.raises(ValueError, match="num_classes"):
        Generator.luo((32, 32, 1), 0)
    with pytest.raises(ValueError, match=r"\[noise, labels\]"):
        generator(noise)
    clone = Generator.from_config(generator.get_config())
    assert clone.get_config() == generator.get_config()


def test_ensemble_members_differ_and_split(tmp_path):
    keras.utils.set_random_seed(0)
    ensemble = GeneratorEnsemble(
        (16, 16, 1), num_classes=10, size=3, latent_dim=8, width=4
    )
    noise = keras.random.normal((6, 8), seed=2)
    labels = np.arange(6) % 10
    outputs = [
        to_numpy(ensemble([noise, labels], member=i, training=False))
        for i in range(3)
    ]
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert np.abs(outputs[a] - outputs[b]).mean() > 1e-3
    # A tensor index (the compiled stage-2 path) picks the same member.
    picked = ensemble(
        [noise, labels], member=keras.ops.convert_to_tensor(2), training=False
    )
    np.testing.assert_allclose(to_numpy(picked), outputs[2], atol=1e-6)
    # member=None: member i makes share i of the batch (training mode
    # included: each member's BN sees only its own share).
    for training in (False, True):
        joint = to_numpy(ensemble([noise, labels], training=training))
        for i in range(3):
            own = to_numpy(
                ensemble(
                    [noise[2 * i : 2 * i + 2], labels[2 * i : 2 * i + 2]],
                    member=i,
                    training=training,
                )
            )
            np.testing.assert_allclose(joint[2 * i : 2 * i + 2], own, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of 3"):
        ensemble([noise[:4], labels[:4]])
    with pytest.raises(ValueError, match="training=False"):
        ensemble(
            [noise, labels],
            member=keras.ops.convert_to_tensor(0),
            training=True,
        )

    outputs = [  # The training-mode calls moved the BN statistics.
        to_numpy(ensemble([noise, labels], member=i, training=False))
        for i in range(3)
    ]
    path = str(tmp_path / "ensemble.keras")
    ensemble.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GeneratorEnsemble) and loaded.size == 3
    for i in range(3):
        np.testing.assert_allclose(
            to_numpy(loaded([noise, labels], member=i, training=False)),
            outputs[i],
            atol=1e-6,
        )


def test_every_member_is_sampled():
    distiller = make_distiller(ensemble_size=4)
    method = distiller.method
    draws = np.array(
        [int(to_numpy(method.sample_member())) for _ in range(400)]
    )
    counts = np.bincount(draws, minlength=4)
    assert counts.sum() == 400 and counts.min() >= 60, counts


def test_labels_are_class_balanced():
    method = make_distiller(batch_size=20, ensemble_size=2).method
    labels = to_numpy(method.sample_labels(20))
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), 2)


def real_statistics_teacher():
    """An untrained LeNet-5 whose BN statistics come from real digits."""
    keras.utils.set_random_seed(0)
    teacher = keras_dfkd.models.lenet5(num_classes=10, input_shape=(32, 32, 1))
    x, _ = datasets.load("mnist", split="test", image_size=32)
    x = datasets.normalize(x[:1280], "mnist")
    for batch in np.split(x, 20):
        teacher(batch, training=True)
    return teacher


def test_stage_one_batch_norm_loss_falls_then_stage_two():
    teacher = real_statistics_teacher()
    distiller = make_distiller(
        teacher=teacher,
        student=keras_dfkd.models.lenet5_half(
            num_classes=10, input_shape=(32, 32, 1)
        ),
        batch_size=32,
        generator_rounds=30,
        generator_width=8,
    )
    distiller.compile()
    student_before = [
        to_numpy(v) for v in distiller.student.trainable_variables
    ]
    history = distiller.fit(steps=30, steps_per_epoch=1, verbose=0).history
    bn = np.array(history["batch_norm"])
    # Independent of a tuned threshold: the last rounds beat the first.
    assert bn[-5:].mean() < 0.8 * bn[:5].mean(), bn
    assert all(s == 0 for s in history["student_loss"])  # Stage 1 only.
    for before, v in zip(student_before, distiller.student.trainable_variables):
        np.testing.assert_array_equal(before, to_numpy(v))

    generator_before = [
        to_numpy(v) for v in distiller.method.generator.trainable_variables
    ]
    history = distiller.fit(steps=2, steps_per_epoch=1, verbose=0).history
    assert all(s > 0 for s in history["student_loss"])
    assert all(g == 0 for g in history["generator_loss"])  # Frozen.
    for before, v in zip(
        generator_before, distiller.method.generator.trainable_variables
    ):
        np.testing.assert_array_equal(before, to_numpy(v))


def test_joint_training_moves_the_student_in_stage_one():
    distiller = make_distiller(joint=True, generator_rounds=5)
    distiller.compile()
    before = [to_numpy(v) for v in distiller.student.trainable_variables]
    history = distiller.fit(steps=1, verbose=0).history
    assert history["generator_loss"][0] > 0 and history["student_loss"][0] > 0
    assert any(
        not np.array_equal(b, to_numpy(v))
        for b, v in zip(before, distiller.student.trainable_variables)
    )


def test_large_images_get_jitter_and_a_trained_ensemble_is_reused():
    teacher = keras_dfkd.models.lenet5(num_classes=10, input_shape=(64, 64, 3))
    method = keras_dfkd.methods.LargeScale(
        batch_size=4, ensemble_size=2, generator_width=4, latent_dim=8
    )
    keras_dfkd.DataFreeDistiller(
        teacher,
        keras_dfkd.models.lenet5_half(num_classes=10, input_shape=(64, 64, 3)),
        method,
    )
    augmentation = method._augmentation
    assert augmentation.fill_mode == "wrap" and augmentation.padding == 9

    small = make_distiller()
    ensemble = small.method.generator
    reuse = make_distiller(ensemble=ensemble, generator_rounds=0)
    assert reuse.method.generator is ensemble
    reuse.compile()
    history = reuse.fit(steps=1, verbose=0).history
    assert history["generator_loss"][0] == 0 and history["student_loss"][0] > 0
    with pytest.raises(ValueError, match="makes"):
        keras_dfkd.DataFreeDistiller(
            teacher,
            keras_dfkd.models.lenet5_half(
                num_classes=10, input_shape=(64, 64, 3)
            ),
            keras_dfkd.methods.LargeScale(
                batch_size=4,
                ensemble_size=2,
                ensemble=GeneratorEnsemble((16, 16, 1), 10, size=2, width=4),
            ),
        )


def test_bad_arguments():
    with pytest.raises(ValueError, match="multiple of `ensemble_size`"):
        keras_dfkd.methods.LargeScale(batch_size=10, ensemble_size=4)
    with pytest.raises(ValueError, match="generator_rounds"):
        keras_dfkd.methods.LargeScale(generator_rounds=-1)
    with pytest.raises(TypeError, match="GeneratorEnsemble"):
        keras_dfkd.methods.LargeScale(ensemble="gens.keras")
    with pytest.raises(ValueError, match="2 members"):
        keras_dfkd.methods.LargeScale(
            ensemble_size=4,
            ensemble=GeneratorEnsemble((16, 16, 1), 10, size=2, width=4),
        )


def test_keras_file_round_trip_continues_identically(tmp_path):
    distiller = make_distiller(generator_rounds=1)
    distiller.compile()
    distiller.fit(steps=1, verbose=0)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = keras.saving.load_model(path)
    assert int(to_numpy(loaded.method.rounds)) == 1
    for model in (distiller, loaded):
        model.fit(steps=1, verbose=0)
    for a, b in zip(distiller.student.variables, loaded.student.variables):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)


def test_mixed_precision_round():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        distiller = make_distiller(joint=True)
        assert distiller.method.generator.compute_dtype == "bfloat16"
        distiller.compile()
        history = distiller.fit(steps=2, verbose=0).history
    finally:
        keras.config.set_dtype_policy("float32")
    for name in ("batch_norm", "one_hot", "student_loss"):
        assert np.isfinite(history[name]).all() and history[name][0] > 0

    keras.config.set_dtype_policy("mixed_float16")
    try:
        distiller = make_distiller()
        with pytest.raises(ValueError, match="mixed_bfloat16"):
            distiller.compile()
    finally:
        keras.config.set_dtype_policy("float32")


def test_keras_hub_classifier_teacher_at_224():
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)

    def classifier(filters):
        backbone = keras_hub.models.ResNetBackbone(
            input_conv_filters=[64],
            input_conv_kernel_sizes=[3],
            stackwise_num_filters=[64, filters],
            stackwise_num_blocks=[1, 1],
            stackwise_num_strides=[1, 2],
            block_type="basic_block",
            use_pre_activation=False,
            image_shape=(224, 224, 3),
        )
        return keras_hub.models.ResNetImageClassifier(
            backbone=backbone, num_classes=10
        )

    teacher, student = classifier(32), classifier(16)
    method = keras_dfkd.methods.LargeScale(
        batch_size=4,
        ensemble_size=2,
        generator_rounds=1,
        joint=True,
        student_steps=1,
        generator_width=2,
        latent_dim=8,
        seed=0,
    )
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    assert len(method.teacher.batch_norm_layers) > 0
    assert method.generator.num_upsamples == 5
    distiller.compile()
    history = distiller.fit(steps=1, verbose=0).history
    for name in ("batch_norm", "one_hot", "student_loss"):
        assert np.isfinite(history[name][0]) and history[name][0] > 0
