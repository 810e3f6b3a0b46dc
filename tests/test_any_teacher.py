"""Teachers built the usual way, in their own input domain, and bad input.

Every method on teachers that are not the recipes': a Rescaling first
layer (raw [0, 255] pixels), a declared range, nested base models, BN
over another axis, probabilities hidden before the end, dict outputs,
channels-first layers; plus the errors a new user meets first.
"""

import warnings

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.input_range import InputRange
from keras_dfkd.testing import to_numpy

SIZE = 12


def conv_block(x, width):
    x = keras.layers.Conv2D(width, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    return keras.layers.ReLU()(x)


def teacher_net(first_layers=(), size=SIZE, name="teacher"):
    inputs = keras.Input((size, size, 1))
    x = inputs
    for layer in first_layers:
        x = layer(x)
    x = conv_block(x, 8)
    x = keras.layers.MaxPooling2D()(x)
    x = conv_block(x, 8)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name=name)


def student_net(size=SIZE, batch_norm=False):
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="student")


def nested_teacher(size=SIZE):
    """`x = base(inputs)` with the BN layers inside the Functional base."""
    base_in = keras.Input((size, size, 1))
    features = conv_block(conv_block(base_in, 8), 8)
    base = keras.Model(base_in, features, name="base")
    inputs = keras.Input((size, size, 1))
    x = base(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="nested")


def method(name):
    """A tiny configuration of each method, one round quick."""
    common = dict(seed=1)
    if name == "nayer":
        return keras_dfkd.methods.NAYER(
            label_embeddings="one_hot",
            batch_size=20,
            generator_steps=1,
            student_steps=1,
            student_batch_size=8,
            warmup_rounds=0,
            noise_dim=16,
            generator_width=4,
            pool_capacity=40,
            **common,
        )
    if name == "pre_dfkd":
        return keras_dfkd.methods.PreDFKD(
            batch_size=8,
            latent_dim=8,
            generator_width=4,
            student_steps=1,
            replay_steps=1,
            vae_latent_dim=8,
            vae_width=4,
            **common,
        )
    if name == "large_scale":
        return keras_dfkd.methods.LargeScale(
            batch_size=8,
            ensemble_size=2,
            generator_rounds=1,
            joint=True,
            generator_width=4,
            latent_dim=8,
            student_steps=1,
            **common,
        )
    if name in ("dfad", "bn_statistics"):
        common["student_steps"] = 1
    return keras_dfkd.methods.get(
        name, batch_size=8, generator_width=4, latent_dim=8, **common
    )


METHOD_NAMES = [
    "dafl",
    "dfad",
    "bn_statistics",
    "nayer",
    "pre_dfkd",
    "large_scale",
]


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_rescaling_teacher_gets_raw_pixels_from_every_method(name):
    keras.utils.set_random_seed(0)
    teacher = teacher_net([keras.layers.Rescaling(1 / 255)])
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student_net(), method(name)
    )
    assert distiller.input_range == InputRange(0, 255)
    distiller.compile()
    history = distiller.fit(steps=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    images = to_numpy(distiller.method.generate(32, training=True))
    assert images.min() >= 0.0 and images.max() <= 255.0
    assert images.std() > 5.0  # Real spread, not a constant grey.
    # What the grid shows are the same pixels, scaled to [0, 1].
    np.testing.assert_allclose(
        distiller.input_range.to_pixels(images), images / 255, atol=1e-6
    )


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_declared_zero_one_range_and_standardized_default(name):
    keras.utils.set_random_seed(0)
    declared = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method(name), input_range=(0, 1)
    )
    images = to_numpy(declared.method.generate(32, training=True))
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert declared.get_config()["input_range"] == {
        "low": 0.0,
        "high": 1.0,
        "mean": 0.0,
        "std": 1.0,
    }
    # No declaration, no Rescaling: today's standardised images.
    default = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method(name)
    )
    assert default.input_range.is_standardized
    images = to_numpy(default.method.generate(32, training=True))
    assert abs(images.mean()) < 0.05
    assert abs(images.std() - 1.0) < 0.1


@pytest.mark.parametrize("name", ["bn_statistics", "nayer", "large_scale"])
def test_nested_base_model_teacher_reads_the_inner_batch_norm(name):
    keras.utils.set_random_seed(0)
    teacher = nested_teacher()
    before = [to_numpy(v) for v in teacher.variables]
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student_net(batch_norm=True), method(name)
    )
    assert len(distiller._teacher.batch_norm_layers) == 2
    assert distiller._teacher.has_features
    if name != "bn_statistics":
        return  # The same extractor; one fit shows it trains.
    distiller.compile()
    history = distiller.fit(steps=2, verbose=0)
    assert history.history["batch_norm"][-1] > 0
    for b, a in zip(before, [to_numpy(v) for v in teacher.variables]):
        np.testing.assert_array_equal(b, a)


def test_batch_norm_layer_inside_a_custom_layer():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(4, 3, padding="same")
            self.norm = keras.layers.BatchNormalization()

        def call(self, x, training=None):
            return self.norm(self.conv(x), training=training)

    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.GlobalAveragePooling2D()(Block()(inputs))
    x = keras.layers.Dense(8)(x)
    teacher = keras.Model(inputs, keras.layers.Dense(10)(x))
    with pytest.raises(ValueError, match="inside custom"):
        keras_dfkd.DataFreeDistiller(
            teacher, student_net(), method("bn_statistics")
        )
    # DFAD never reads BN statistics: fine.
    keras_dfkd.DataFreeDistiller(teacher, student_net(), method("dfad"))


def test_batch_norm_over_another_axis_is_read_channels_last():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(6, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization(axis=1)(x)  # over the rows
    x = keras.layers.GlobalAveragePooling2D()(x)
    teacher = keras.Model(inputs, keras.layers.Dense(10)(x))
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student_net(), method("bn_statistics")
    )
    assert distiller._teacher.batch_norm_input_shapes == [(None, SIZE, 6, SIZE)]
    distiller.compile()
    assert np.isfinite(distiller.fit(steps=1, verbose=0).history["batch_norm"])


@pytest.mark.parametrize(
    "ending",
    [
        lambda x: keras.layers.Dropout(0.1)(keras.layers.Softmax()(x)),
        lambda x: keras.layers.Lambda(lambda t: keras.ops.softmax(t))(x),
    ],
    ids=["softmax_then_dropout", "softmax_lambda"],
)
def test_probabilities_before_the_end_are_caught_on_the_probe(ending):
    inputs = keras.Input((SIZE, SIZE, 1))
    x = conv_block(inputs, 4)
    x = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    teacher = keras.Model(inputs, ending(x))
    with pytest.raises(ValueError, match="outputs probabilities"):
        keras_dfkd.DataFreeDistiller(teacher, student_net(), method("dfad"))
    assert teacher.trainable  # Left as it was.


def test_dict_outputs():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.GlobalAveragePooling2D()(conv_block(inputs, 4))
    logits = keras.layers.Dense(10)(keras.layers.Dense(8)(x))
    single = keras.Model(inputs, {"logits": logits})
    distiller = keras_dfkd.DataFreeDistiller(
        single, student_net(), method("dfad")
    )
    distiller.compile()
    distiller.fit(steps=1, verbose=0)
    double = keras.Model(
        inputs, {"logits": logits, "features": keras.layers.Dense(3)(x)}
    )
    with pytest.raises(ValueError, match=r"dict of 2 outputs.*logits"):
        keras_dfkd.DataFreeDistiller(double, student_net(), method("dfad"))


def test_channels_first_teacher_and_setting():
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 1, data_format="channels_first")(inputs)
    teacher = keras.Model(
        inputs, keras.layers.Dense(10)(keras.layers.Flatten()(x))
    )
    with pytest.raises(ValueError, match="channels_first layers"):
        keras_dfkd.DataFreeDistiller(teacher, student_net(), method("dfad"))
    teacher = teacher_net()
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="image_data_format"):
            keras_dfkd.DataFreeDistiller(teacher, student_net(), method("dfad"))
    finally:
        keras.config.set_image_data_format("channels_last")


def test_failed_construction_leaves_the_teacher_as_it_was():
    teacher = nested_teacher()
    teacher.get_layer("base").trainable = False  # A frozen base, on purpose.
    flags = [layer.trainable for layer in teacher._flatten_layers()]
    inputs = keras.Input((SIZE, SIZE, 1))
    wrong = keras.Model(
        inputs, keras.layers.Dense(7)(keras.layers.Flatten()(inputs))
    )
    with pytest.raises(ValueError, match="num_classes=10"):
        keras_dfkd.DataFreeDistiller(teacher, wrong, method("dfad"))
    assert [layer.trainable for layer in teacher._flatten_layers()] == flags


def test_frozen_student_is_refused():
    student = student_net()
    student.trainable = False
    with pytest.raises(ValueError, match="no trainable variables"):
        keras_dfkd.DataFreeDistiller(teacher_net(), student, method("dfad"))


def test_losses_are_float32_for_bfloat16_inputs():
    rng = np.random.default_rng(0)
    t, s = (keras.ops.cast(rng.normal(size=(4, 10)), "bfloat16") for _ in "ts")
    losses = keras_dfkd.losses
    for value in (
        losses.kl_divergence_with_temperature(t, s, 4.0),
        losses.masked_kl_divergence(t, s),
        losses.jensen_shannon_divergence(t, s),
        losses.l1_logits_loss(t, s),
        losses.one_hot_cross_entropy(t),
        losses.information_entropy_loss(t),
        losses.activation_loss(t),
    ):
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
    kl = losses.kl_divergence_with_temperature(t, s, 20.0)
    assert np.all(to_numpy(kl) >= 0)


def test_mixed_bfloat16_rounds():
    # The methods that crashed (TensorFlow) or gave a negative KL (JAX).
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        for name in ("bn_statistics", "pre_dfkd"):
            keras.utils.set_random_seed(0)
            distiller = keras_dfkd.DataFreeDistiller(
                teacher_net(), student_net(), method(name)
            )
            distiller.compile()
            logs = distiller.fit(steps=1, verbose=0).history
            assert all(np.isfinite(v[-1]) for v in logs.values()), name
            assert logs["student_loss"][-1] >= 0, name
    finally:
        keras.config.set_dtype_policy("float32")


def test_nan_stops_fit_by_default_naming_the_term_and_the_fix():
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method("dfad")
    )
    distiller.compile()
    kernel = distiller.student.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    with pytest.raises(FloatingPointError, match=r"student_loss.*input_range"):
        distiller.fit(steps=3, verbose=0)


def test_terminate_on_nan_sees_the_loss():
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method("dfad")
    )
    distiller.compile()
    kernel = distiller.student.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    guard = keras_dfkd.callbacks.NonFiniteGuard(raise_error=False)
    history = distiller.fit(
        steps=4,
        steps_per_epoch=2,
        verbose=0,
        callbacks=[guard, keras.callbacks.TerminateOnNaN()],
    )
    assert guard.failure is not None
    assert len(history.history["loss"]) == 1  # Stopped in the first epoch.


def test_student_at_chance_warns():
    keras.utils.set_random_seed(0)
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method("dfad")
    )
    # A student that cannot learn (zero learning rate) and always names the
    # class the teacher names least often on synthetic images.
    distiller.compile(student_optimizer=keras.optimizers.SGD(0.0))
    images = distiller.generate(256)
    counts = np.bincount(
        np.argmax(to_numpy(distiller.teacher(images)), axis=-1), minlength=10
    )
    head = distiller.student.layers[-1]
    head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
    head.bias.assign(10.0 * np.eye(10, dtype="float32")[np.argmin(counts)])
    progress = keras_dfkd.callbacks.StudentProgress(min_student_steps=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distiller.fit(
            steps=4, steps_per_epoch=2, verbose=0, callbacks=[progress]
        )
    assert any("not learning" in str(w.message) for w in caught)
    assert progress.agreement < 0.19


def test_student_that_agrees_does_not_warn():
    keras.utils.set_random_seed(0)
    teacher = teacher_net()
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    # Frozen BN layers keep the teacher's statistics through training
    # steps; with a zero learning rate the student stays the teacher.
    for layer in student.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    distiller = keras_dfkd.DataFreeDistiller(teacher, student, method("dfad"))
    distiller.compile(student_optimizer=keras.optimizers.SGD(0.0))
    progress = keras_dfkd.callbacks.StudentProgress(min_student_steps=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distiller.fit(
            steps=2,
            verbose=0,
            callbacks=[
                # The teacher's own BN statistics, not re-estimated ones.
                keras_dfkd.callbacks.StudentBatchNormCalibration(batches=0),
                progress,
            ],
        )
    assert not any("not learning" in str(w.message) for w in caught)
    assert progress.agreement == 1.0


def test_monitoring_callbacks_with_a_mode():
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method("dfad")
    )
    distiller.compile()
    stop = keras.callbacks.EarlyStopping(
        monitor="agreement", mode="max", patience=100
    )
    loss = keras.callbacks.EarlyStopping(monitor="loss", patience=100)
    distiller.fit(steps=2, steps_per_epoch=1, verbose=0, callbacks=[stop, loss])
    assert stop.best is not None and loss.best is not None


def test_fit_that_would_run_nothing_is_refused():
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method("dfad")
    )
    distiller.compile()
    with pytest.raises(ValueError, match="would run no round"):
        distiller.fit(steps=4, steps_per_epoch=2, initial_epoch=2, verbose=0)


def test_nayer_class_names_and_warmup():
    with pytest.raises(ValueError, match="the string 'cat'"):
        keras_dfkd.methods.NAYER(class_names="cat")
    with pytest.raises(ValueError, match=r"repeats \['shirt'\]"):
        keras_dfkd.methods.NAYER(class_names=["shirt", "bag", "shirt"])
    nayer = method("nayer")
    nayer.warmup_rounds = 5
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), nayer
    )
    # Before any round the pool is empty: images come from the generator.
    images = to_numpy(distiller.generate(8))
    assert images.shape == (8, SIZE, SIZE, 1) and images.std() > 0
    distiller.compile()
    with pytest.warns(UserWarning, match="from round 5 on"):
        distiller.fit(steps=2, verbose=0)


def test_large_scale_warns_when_a_fit_ends_in_stage_one():
    large_scale = method("large_scale")
    large_scale.generator_rounds = 3
    large_scale.joint = False
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), large_scale
    )
    distiller.compile()
    with pytest.warns(UserWarning, match="will not be trained"):
        distiller.fit(steps=2, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distiller.fit(steps=2, verbose=0)
    assert not [w for w in caught if "will not be trained" in str(w.message)]


def test_methods_get_an_instance():
    dfad = method("dfad")
    assert keras_dfkd.methods.get(dfad) is dfad
    with pytest.raises(ValueError, match="pass the arguments"):
        keras_dfkd.methods.get(dfad, batch_size=4)
    assert isinstance(
        keras_dfkd.methods.from_preset("dfad_cpu"), keras_dfkd.methods.DFAD
    )
    with pytest.raises(ValueError, match="Unknown preset"):
        keras_dfkd.methods.from_preset("dfad_gpu")


@pytest.mark.parametrize(
    "arguments, match",
    [
        (dict(temperature=0.0), "temperature"),
        (dict(student_learning_rate=-0.1), "student_learning_rate"),
        (dict(generator_learning_rate=0), "generator_learning_rate"),
        (dict(student_weight_decay=-1e-4), "student_weight_decay"),
    ],
)
def test_bad_temperatures_and_learning_rates(arguments, match):
    # Refused when the method is built, before any distiller exists.
    with pytest.raises(ValueError, match=match):
        keras_dfkd.methods.BNStatistics(batch_size=8, **arguments)


def test_export_student_formats(tmp_path):
    distiller = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method("dfad")
    )
    path = distiller.export_student(str(tmp_path / "student.h5"))
    probe = np.zeros((1, SIZE, SIZE, 1), "float32")
    np.testing.assert_allclose(
        to_numpy(keras.saving.load_model(path)(probe)),
        to_numpy(distiller.student(probe)),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="unknown file type '.pb'"):
        distiller.export_student(str(tmp_path / "student.pb"))


def test_unsupported_backend_is_refused_at_construction(monkeypatch):
    monkeypatch.setattr(keras.config, "backend", lambda: "torch")
    with pytest.raises(ValueError, match="'tensorflow' and 'jax'"):
        keras_dfkd.DataFreeDistiller(teacher_net(), student_net(), None)


def test_student_evaluation_checks_its_data():
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(0).uniform(size=(6, SIZE, SIZE, 1))
    y = np.arange(6) % 10
    evaluation = keras_dfkd.callbacks.StudentEvaluation(x, np.eye(10)[y])
    np.testing.assert_array_equal(evaluation.y, y)  # one-hot -> indices
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    from_dataset = keras_dfkd.callbacks.StudentEvaluation(dataset)
    np.testing.assert_array_equal(from_dataset.y, y)
    with pytest.raises(ValueError, match="batch of images"):
        keras_dfkd.callbacks.StudentEvaluation(x[..., 0], y)
    with pytest.raises(ValueError, match="not one-hot"):
        keras_dfkd.callbacks.StudentEvaluation(x, np.full((6, 10), 0.1))
    declared = keras_dfkd.DataFreeDistiller(
        teacher_net(), student_net(), method("dfad"), input_range=(0, 1)
    )
    uint8 = keras_dfkd.callbacks.StudentEvaluation((255 * x).astype("uint8"), y)
    with pytest.raises(ValueError, match=r"uint8.*from_pixels"):
        uint8._check_against(declared)
    uint8._check_against(
        keras_dfkd.DataFreeDistiller(
            teacher_net([keras.layers.Rescaling(1 / 255)]),
            student_net(),
            method("dfad"),
        )
    )  # Raw pixels are right for a Rescaling teacher.
    small = keras_dfkd.callbacks.StudentEvaluation(x[:, :8, :8], y)
    with pytest.raises(ValueError, match="student takes"):
        small._check_against(declared)


@pytest.mark.parametrize(
    "name, paper_rate",
    [
        ("dfad", 0.01),
        ("bn_statistics", 0.1),
        ("nayer", 0.2),
        ("pre_dfkd", 0.1),
        ("large_scale", 0.1),
    ],
)
def test_auto_student_optimizer_follows_the_students_batch_norm(
    name, paper_rate
):
    def student_optimizer(batch_norm, **overrides):
        m = method(name)
        for key, value in overrides.items():
            setattr(m, key, value)
        distiller = keras_dfkd.DataFreeDistiller(
            teacher_net(), student_net(batch_norm=batch_norm), m
        )
        distiller.compile()
        assert m.get_config()["student_optimizer"] == overrides.get(
            "student_optimizer", "auto"
        )
        optimizer = distiller.optimizers["student"]
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        return type(optimizer).__name__, round(rate, 6)

    # BN makes the papers' SGD rates safe; a BN-free student gets Adam.
    assert student_optimizer(True) == ("SGD", paper_rate)
    assert student_optimizer(False) == ("Adam", 1e-3)
    forced = student_optimizer(False, student_optimizer="sgd")
    assert forced == ("SGD", paper_rate)
    chosen = student_optimizer(
        True, student_optimizer="adam", student_learning_rate=3e-4
    )
    assert chosen == ("Adam", 3e-4)


@pytest.mark.parametrize("name", ["dafl", "pre_dfkd"])
def test_activation_term_reads_the_chosen_feature_layer(name):
    chosen = method(name)
    chosen.feature_layer = "head_relu"
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.GlobalAveragePooling2D()(conv_block(inputs, 8))
    x = keras.layers.Dense(6, activation="relu", name="head_relu")(x)
    teacher = keras.Model(inputs, keras.layers.Dense(10)(x))
    distiller = keras_dfkd.DataFreeDistiller(teacher, student_net(), chosen)
    images = np.zeros((2, SIZE, SIZE, 1), "float32")
    assert tuple(chosen.teacher(images)["features"].shape) == (2, 6)
    distiller.compile()
    history = distiller.fit(steps=1, verbose=0).history
    assert np.isfinite(history["activation"][-1])
    wrong = method(name)
    wrong.feature_layer = "fc9"
    with pytest.raises(ValueError, match="no layer named 'fc9'"):
        keras_dfkd.DataFreeDistiller(teacher_net(), student_net(), wrong)
