"""DataFreeDistiller mechanics on both backends (tiny models, no data)."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.testing import small_net
from keras_dfkd.testing import tiny_distiller
from keras_dfkd.testing import tiny_method
from keras_dfkd.testing import to_numpy

#: The tiny methods these mechanics run on (NAYER and PRE-DFKD have their
#: own test files).
METHODS = (
    "dafl",
    "dfad",
    "bn_statistics",
    "large_scale",
    "bn_statistics_sigmoid_js",
    "deep_inversion",
    "cmi",
    "fast",
)


def values(variables):
    return [to_numpy(v) for v in variables]


@pytest.mark.parametrize("method_name", METHODS)
def test_fit_updates_everything_but_the_teacher(method_name):
    distiller = tiny_distiller(method_name)
    distiller.compile()
    teacher_before = values(distiller.teacher.variables)
    generator = distiller.method.generator
    generator_stats = values(generator.non_trainable_variables)
    student_stats = values(distiller.student.non_trainable_variables)
    student_weights = values(distiller.student.trainable_variables)
    generator_weights = values(generator.trainable_variables)

    history = distiller.fit(steps=4, steps_per_epoch=2, verbose=0)

    # The teacher, weights and BN moving statistics, is bit-identical.
    for before, after in zip(
        teacher_before, values(distiller.teacher.variables)
    ):
        np.testing.assert_array_equal(before, after)
    # Every optimizer advanced, on every backend: each round's steps, or,
    # for a group whose optimizer restarts every batch, the last round's.
    method = distiller.method
    for group, optimizer in distiller.optimizers.items():
        runs = [p for p in method.phases if group in p.groups]
        per_round = sum(p.repeats for p in runs)
        fresh = any(
            p.reset_optimizer is True or group in (p.reset_optimizer or ())
            for p in runs
        )
        rounds = 4 - method.first_student_round if group == "student" else 4
        expected = per_round if fresh else rounds * per_round
        assert int(optimizer.iterations) == expected, group
    assert int(distiller.optimizer.iterations) == 4
    # Every trainable variable of every group moved, and each group's BN
    # moving statistics.
    for variables, before in (
        (generator.trainable_variables, generator_weights),
        (distiller.student.trainable_variables, student_weights),
    ):
        unmoved = [
            v.path
            for v, b in zip(variables, before)
            if np.array_equal(b, to_numpy(v))
        ]
        assert not unmoved, unmoved
    for before, after in (
        (generator_stats, values(generator.non_trainable_variables)),
        (student_stats, values(distiller.student.non_trainable_variables)),
    ):
        # DeepInversion's images have no BN statistics.
        assert not before or any(
            not np.array_equal(b, a) for b, a in zip(before, after)
        )
    # Running means of every loss term are logged, and finite.
    for name in distiller.method.log_names:
        assert name in history.history
        assert np.all(np.isfinite(history.history[name]))
    assert len(history.history["student_loss"]) == 2


def test_optimizer_state_is_not_model_state():
    # JAX passes model and optimizer state separately; a variable in both
    # would be donated twice.
    distiller = tiny_distiller("bn_statistics")
    distiller.compile()
    optimizer_ids = {id(v) for v in distiller.optimizer.variables}
    assert not [
        v.path
        for v in distiller.non_trainable_variables
        if id(v) in optimizer_ids
    ]


def test_optimizer_slots_move_on_both_groups():
    distiller = tiny_distiller("dfad")
    distiller.compile()
    distiller.fit(steps=2, verbose=0)
    for group, optimizer in distiller.optimizers.items():
        slots = [
            v
            for v in optimizer.variables
            if v is not optimizer.iterations and "learning_rate" not in v.path
        ]
        assert any(np.any(keras.ops.convert_to_numpy(v) != 0) for v in slots), (
            group
        )


@pytest.mark.parametrize("method_name", ["dfad", "bn_statistics"])
def test_same_seed_same_run(method_name):
    results = []
    for _ in range(2):
        distiller = tiny_distiller(method_name, random_seed=7)
        distiller.compile()
        distiller.fit(steps=2, verbose=0)
        results.append(values(distiller.student.variables))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_compile_overrides_and_schedule():
    distiller = tiny_distiller("dfad")
    distiller.compile(
        generator_optimizer=keras.optimizers.Adam(5e-4),
        student_optimizer="adam",
    )
    assert isinstance(distiller.optimizers["student"], keras.optimizers.Adam)
    assert float(
        distiller.optimizers["generator"].learning_rate
    ) == pytest.approx(5e-4)
    assert isinstance(distiller.optimizer, keras.optimizers.MultiOptimizer)
    history = distiller.fit(epochs=2, steps_per_epoch=1, verbose=0)
    assert len(history.history["agreement"]) == 2


def test_image_grid_and_generate(tmp_path):
    distiller = tiny_distiller("dafl")
    distiller.compile()
    distiller.fit(
        steps=2,
        steps_per_epoch=1,
        verbose=0,
        callbacks=[keras_dfkd.callbacks.ImageGrid(str(tmp_path), 9)],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_0001.png",
        "epoch_0002.png",
    ]
    assert tuple(distiller.generate(5).shape) == (5, 16, 16, 1)


def test_get_config_round_trip():
    distiller = tiny_distiller("bn_statistics")
    config = distiller.get_config()
    clone = keras_dfkd.DataFreeDistiller.from_config(config)
    assert clone.method.get_config() == distiller.method.get_config()
    assert isinstance(
        clone.method.augmentation, keras_dfkd.layers.DifferentiableAugmentation
    )


@pytest.mark.parametrize("method_name", METHODS)
def test_method_serialization(method_name):
    method = tiny_method(method_name)
    config = keras.saving.serialize_keras_object(method)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(method)
    assert clone.get_config() == method.get_config()


def test_keras_file_round_trip(tmp_path):
    distiller = tiny_distiller("dfad")
    distiller.compile()
    distiller.fit(steps=1, verbose=0)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(3, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.student(x, training=False)),
        keras.ops.convert_to_numpy(distiller.student(x, training=False)),
        atol=1e-6,
    )
    for group, optimizer in distiller.optimizers.items():
        assert int(loaded.optimizers[group].iterations) == int(
            optimizer.iterations
        )
    assert not loaded.teacher.trainable


# Bad input: each gets a clear error that names the fix.


def test_teacher_without_batch_norm():
    teacher = small_net(8, "teacher", batch_norm=False)
    student = small_net(4, "student")
    with pytest.raises(ValueError, match="no BatchNormalization"):
        keras_dfkd.DataFreeDistiller(
            teacher, student, keras_dfkd.methods.BNStatistics(batch_size=4)
        )
    # Methods that do not read BN statistics accept it.
    keras_dfkd.DataFreeDistiller(
        teacher, student, keras_dfkd.methods.DFAD(batch_size=4)
    )


def test_subclassed_teacher():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(10)

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, 256)))

    teacher = Subclassed()
    teacher(np.zeros((1, 16, 16, 1), "float32"))
    with pytest.raises(ValueError, match="subclassed.*functional API"):
        keras_dfkd.DataFreeDistiller(
            teacher, small_net(4, "s"), keras_dfkd.methods.DFAD(batch_size=4)
        )


def test_student_output_size_mismatch():
    with pytest.raises(ValueError, match="num_classes=10"):
        keras_dfkd.DataFreeDistiller(
            small_net(8, "t"),
            small_net(4, "s", classes=7),
            keras_dfkd.methods.DFAD(batch_size=4),
        )


def test_non_image_teacher():
    inputs = keras.Input((20,))
    teacher = keras.Model(inputs, keras.layers.Dense(10)(inputs))
    with pytest.raises(ValueError, match="batch of images"):
        keras_dfkd.DataFreeDistiller(
            teacher, small_net(4, "s"), keras_dfkd.methods.DFAD(batch_size=4)
        )


def flat_pair(size):
    """A BN teacher and a student on `size`x`size`x1 images."""
    inputs = keras.Input((size, size, 1))
    x = keras.layers.BatchNormalization()(inputs)
    x = keras.layers.Flatten()(x)
    teacher = keras.Model(inputs, keras.layers.Dense(10)(x))
    student_in = keras.Input((size, size, 1))
    student = keras.Model(
        student_in, keras.layers.Dense(10)(keras.layers.Flatten()(student_in))
    )
    return teacher, student


@pytest.mark.parametrize("size", [28, 30, 33])
@pytest.mark.parametrize("method_name", ["dafl", "dfad", "pre_dfkd"])
def test_generators_make_sizes_that_are_no_power_of_two(size, method_name):
    teacher, student = flat_pair(size)
    method = keras_dfkd.methods.get(
        method_name, batch_size=4, generator_width=2, latent_dim=8
    )
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method)
    images = distiller.generate(4)
    assert tuple(images.shape) == (4, size, size, 1)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(images)))


def test_input_size_generator_cannot_make():
    teacher, student = flat_pair(3)
    with pytest.raises(ValueError, match="cannot make 3x3"):
        keras_dfkd.DataFreeDistiller(
            teacher, student, keras_dfkd.methods.DFAD(batch_size=4)
        )


def test_fit_before_compile():
    distiller = tiny_distiller("dfad")
    with pytest.raises(RuntimeError, match="compile"):
        distiller.fit(steps=1)


def test_fit_with_data():
    distiller = tiny_distiller("dfad")
    distiller.compile()
    with pytest.raises(ValueError, match="takes no data"):
        distiller.fit(np.zeros((4, 16, 16, 1)), np.zeros((4,)))
    with pytest.raises(ValueError, match="does not accept"):
        distiller.fit(steps=1, validation_data=(np.zeros((1,)),))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "how long"),
        ({"steps": 0}, "positive int"),
        ({"steps": 5, "steps_per_epoch": 2}, "multiple"),
        ({"steps": 2, "epochs": 2}, "not both"),
    ],
)
def test_bad_schedules(kwargs, message):
    distiller = tiny_distiller("dfad")
    distiller.compile()
    with pytest.raises(ValueError, match=message):
        distiller.fit(**kwargs)


def test_bad_method_and_optimizer_group():
    with pytest.raises(TypeError, match="Method"):
        keras_dfkd.DataFreeDistiller(small_net(8, "t"), small_net(4, "s"), "x")
    distiller = tiny_distiller("dfad")
    with pytest.raises(ValueError, match="no optimizer group"):
        distiller.compile(optimizers={"vae": "adam"})


def test_method_instance_reused():
    method = keras_dfkd.methods.DFAD(batch_size=4)
    keras_dfkd.DataFreeDistiller(small_net(8, "t"), small_net(4, "s"), method)
    with pytest.raises(ValueError, match="new method object"):
        keras_dfkd.DataFreeDistiller(
            small_net(8, "t2"), small_net(4, "s2"), method
        )


def test_sigmoid_generator_images_are_normalised():
    distiller = tiny_distiller("bn_statistics_sigmoid_js")
    images = keras.ops.convert_to_numpy(distiller.generate(8))
    # Sigmoid pixels in [0, 1], normalised with mean 0.5 and std 0.25.
    assert images.min() >= -2.0 and images.max() <= 2.0
    assert images.min() < 0.0 < images.max()


def test_backup_and_restore_resumes_after_a_crash(tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise RuntimeError("simulated crash")

    distiller = tiny_distiller("dfad")
    distiller.compile()
    with pytest.raises(RuntimeError, match="simulated crash"):
        distiller.fit(
            steps=3,
            steps_per_epoch=1,
            callbacks=[
                keras.callbacks.BackupAndRestore(str(tmp_path)),
                Crash(),
            ],
            verbose=0,
        )
    resumed = tiny_distiller("dfad")
    resumed.compile()
    history = resumed.fit(
        steps=3,
        steps_per_epoch=1,
        callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path))],
        verbose=0,
    )
    # Epoch 1 came from the backup; only epochs 2 and 3 ran again, and the
    # restored optimizers carried on counting (2 student steps per round).
    assert len(history.history["agreement"]) == 2
    assert int(resumed.optimizers["student"].iterations) == 6
    assert int(resumed.optimizers["generator"].iterations) == 3


def test_export_student(tmp_path):
    import tensorflow as tf

    distiller = tiny_distiller("dfad")
    x = np.random.default_rng(0).normal(size=(3, 16, 16, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(distiller.student(x))
    path = distiller.export_student(str(tmp_path / "student.keras"))
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), expected, atol=1e-6
    )
    path = distiller.export_student(str(tmp_path / "saved_model"))
    reloaded = tf.saved_model.load(path)  # Keep it alive while serving.
    served = reloaded.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(served), expected, atol=1e-5)


@pytest.mark.parametrize("ending", ["dense_softmax", "softmax_layer"])
def test_teacher_with_probability_output(ending):
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if ending == "dense_softmax":
        outputs = keras.layers.Dense(10, activation="softmax")(x)
    else:
        outputs = keras.layers.Softmax()(keras.layers.Dense(10)(x))
    teacher = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="outputs probabilities.*logits"):
        keras_dfkd.DataFreeDistiller(
            teacher, small_net(4, "student"), tiny_method("dfad")
        )


def test_teacher_with_non_finite_outputs():
    teacher = small_net(8, "teacher")
    kernel = teacher.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    with pytest.raises(ValueError, match="NaN or inf logits"):
        keras_dfkd.DataFreeDistiller(
            teacher, small_net(4, "student"), tiny_method("dfad")
        )


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: keras_dfkd.methods.DFAD(batch_size=0), ValueError, "batch"),
        (lambda: keras_dfkd.methods.DFAD(batch_size=-4), ValueError, "batch"),
        (lambda: keras_dfkd.methods.DFAD(batch_size=2.5), ValueError, "batch"),
        (lambda: keras_dfkd.methods.DFAD(batch_size="64"), ValueError, "batch"),
        (
            lambda: keras_dfkd.methods.BNStatistics(student_steps=0),
            ValueError,
            "student_steps",
        ),
        (
            lambda: keras_dfkd.methods.LargeScale(ensemble_size=0),
            ValueError,
            "ensemble_size",
        ),
    ],
)
def test_bad_method_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_wrong_argument_types():
    with pytest.raises(TypeError, match="keras.Model"):
        keras_dfkd.DataFreeDistiller(
            "teacher.keras", small_net(4, "student"), tiny_method("dfad")
        )
    with pytest.raises((TypeError, ValueError), match="method"):
        keras_dfkd.DataFreeDistiller(
            small_net(8, "teacher"), small_net(4, "student"), "dfad"
        )
    with pytest.raises(TypeError, match="keras.Model"):
        keras_dfkd.DataFreeDistiller(
            small_net(8, "teacher"), "student", tiny_method("dfad")
        )
