"""Tests for `keras_dfkd.losses` against plain-NumPy references."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_dfkd import losses
from keras_dfkd.testing import gradient
from keras_dfkd.testing import to_numpy

TEMPERATURES = [0.5, 1.0, 4.0]


# --------------------------------------------------------------------------
# NumPy references (float64, written independently of the library).
# --------------------------------------------------------------------------


def np_softmax(x, temperature=1.0):
    z = np.asarray(x, np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def np_kl(p, q):
    """Per-row KL(p || q), with 0 * log 0 = 0."""
    out = np.zeros(p.shape[0])
    for i in range(p.shape[0]):
        for k in range(p.shape[1]):
            if p[i, k] > 0:
                out[i] += p[i, k] * (np.log(p[i, k]) - np.log(q[i, k]))
    return out


def np_bn_terms(x, moving_mean, moving_var):
    x = np.asarray(x, np.float64)
    flat = x.reshape(-1, x.shape[-1])
    mean = flat.mean(axis=0)
    var = ((flat - mean) ** 2).mean(axis=0)
    return mean, var


def np_bn_distance(mean, var, moving_mean, moving_var):
    return np.sqrt(np.sum((moving_var - var) ** 2)) + np.sqrt(
        np.sum((moving_mean - mean) ** 2)
    )


def random_logits(seed, n=16, k=5, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, k)) * scale).astype(np.float32)


# --------------------------------------------------------------------------
# Logit losses.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_kl_divergence_with_temperature_matches_numpy(temperature):
    t, s = random_logits(0), random_logits(1)
    expected = np_kl(np_softmax(t, temperature), np_softmax(s, temperature)) * (
        temperature**2
    )
    per_sample = losses.kl_divergence_with_temperature(t, s, temperature)
    np.testing.assert_allclose(to_numpy(per_sample), expected, rtol=1e-4)
    loss = losses.KLDivergenceWithTemperature(temperature)(t, s)
    assert to_numpy(loss).shape == ()
    np.testing.assert_allclose(to_numpy(loss), expected.mean(), rtol=1e-4)


def test_kl_divergence_is_zero_for_identical_logits():
    t = random_logits(2)
    loss = losses.KLDivergenceWithTemperature(2.0)(t, t)
    np.testing.assert_allclose(to_numpy(loss), 0.0, atol=1e-6)


def test_kl_divergence_is_stable_for_extreme_logits():
    t = np.array([[1000.0, -1000.0, 0.0]], np.float32)
    s = np.array([[-1000.0, 1000.0, 0.0]], np.float32)
    value = to_numpy(losses.kl_divergence_with_temperature(t, s))
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, [2000.0], rtol=1e-5)


def test_l1_logits_loss_matches_numpy():
    t, s = random_logits(3), random_logits(4)
    expected = np.abs(s.astype(np.float64) - t).mean(axis=-1)
    np.testing.assert_allclose(
        to_numpy(losses.l1_logits_loss(t, s)), expected, rtol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(losses.L1LogitsLoss()(t, s)), expected.mean(), rtol=1e-5
    )


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_masked_kl_divergence_matches_numpy(temperature):
    t, s = random_logits(5, n=32), random_logits(6, n=32)
    mask = (s.argmax(-1) == t.argmax(-1)).astype(np.float64)
    assert 0 < mask.sum() < len(mask), "test data must mix both cases"
    kl = np_kl(np_softmax(t, temperature), np_softmax(s, temperature))
    expected = mask * kl
    per_sample = losses.masked_kl_divergence(t, s, temperature)
    np.testing.assert_allclose(
        to_numpy(per_sample), expected, rtol=1e-4, atol=1e-7
    )
    loss = losses.MaskedKLDivergence(temperature)(t, s)
    np.testing.assert_allclose(to_numpy(loss), expected.mean(), rtol=1e-4)


def test_masked_kl_divergence_gradient_respects_mask():
    t, s = random_logits(5, n=32), random_logits(6, n=32)
    mask = s.argmax(-1) == t.argmax(-1)
    g = gradient(lambda v: losses.MaskedKLDivergence(2.0)(t, v), s)
    assert np.all(np.isfinite(g))
    assert np.all(g[~mask] == 0.0)
    assert np.all(np.abs(g[mask]).sum(axis=-1) > 0.0)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_jensen_shannon_divergence_matches_numpy(temperature):
    t, s = random_logits(7), random_logits(8)
    p, q = np_softmax(s, temperature), np_softmax(t, temperature)
    m = 0.5 * (p + q)
    expected = 0.5 * (np_kl(p, m) + np_kl(q, m))
    per_sample = to_numpy(losses.jensen_shannon_divergence(t, s, temperature))
    np.testing.assert_allclose(per_sample, expected, rtol=1e-4, atol=1e-7)
    assert np.all(per_sample >= -1e-7)
    assert np.all(per_sample <= np.log(2.0) + 1e-6)
    swapped = to_numpy(losses.jensen_shannon_divergence(s, t, temperature))
    np.testing.assert_allclose(swapped, per_sample, rtol=1e-5, atol=1e-7)
    loss = losses.JensenShannonDivergence(temperature)(t, s)
    np.testing.assert_allclose(to_numpy(loss), expected.mean(), rtol=1e-4)


def test_jensen_shannon_divergence_saturates_at_log2():
    t = np.array([[200.0, -200.0]], np.float32)
    s = np.array([[-200.0, 200.0]], np.float32)
    value = to_numpy(losses.jensen_shannon_divergence(t, s))
    np.testing.assert_allclose(value, [np.log(2.0)], rtol=1e-5)


def test_one_hot_cross_entropy_matches_numpy():
    t = random_logits(9)
    p = np_softmax(t)
    expected = -np.log(p[np.arange(len(t)), t.argmax(-1)])
    np.testing.assert_allclose(
        to_numpy(losses.one_hot_cross_entropy(t)),
        expected,
        rtol=1e-5,
        atol=1e-6,
    )
    loss_fn = losses.OneHotCrossEntropy()
    np.testing.assert_allclose(
        to_numpy(loss_fn(t, t)), expected.mean(), rtol=1e-5
    )
    # y_true is ignored.
    np.testing.assert_allclose(
        to_numpy(loss_fn(np.zeros_like(t), t)), expected.mean(), rtol=1e-5
    )


def test_one_hot_cross_entropy_gradient_uses_constant_labels():
    t = random_logits(10)
    g = gradient(lambda v: losses.OneHotCrossEntropy()(v, v), t)
    # d CE / d logits = (softmax - one_hot) / N with constant labels.
    p = np_softmax(t)
    expected = p.copy()
    expected[np.arange(len(t)), t.argmax(-1)] -= 1.0
    np.testing.assert_allclose(g, expected / len(t), rtol=1e-4, atol=1e-7)


def test_information_entropy_loss_matches_numpy():
    t = random_logits(11)
    p_bar = np_softmax(t).mean(axis=0)
    expected = np.sum(p_bar * np.log10(p_bar))
    value = losses.information_entropy_loss(t)
    assert to_numpy(value).shape == ()
    np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-5)
    loss_fn = losses.InformationEntropyLoss()
    np.testing.assert_allclose(to_numpy(loss_fn(t, t)), expected, rtol=1e-5)
    np.testing.assert_allclose(
        to_numpy(loss_fn(np.zeros_like(t), t)), expected, rtol=1e-5
    )


def test_information_entropy_loss_is_nan_safe():
    # The last class gets probability exactly 0 in float32.
    t = np.array([[0.0, 2.0, -1e4], [1.0, 0.0, -1e4]], np.float32)
    value = to_numpy(losses.information_entropy_loss(t))
    p_bar = np_softmax(t[:, :2]).mean(axis=0)
    np.testing.assert_allclose(
        value, np.sum(p_bar * np.log10(p_bar)), rtol=1e-5
    )
    g = gradient(lambda v: losses.InformationEntropyLoss()(v, v), t)
    assert np.all(np.isfinite(g))
    assert np.abs(g).sum() > 0.0


def test_information_entropy_loss_is_minimal_for_balanced_batch():
    balanced = np.eye(4, dtype=np.float32) * 10.0
    collapsed = np.tile(balanced[:1], (4, 1))
    assert to_numpy(losses.information_entropy_loss(balanced)) < to_numpy(
        losses.information_entropy_loss(collapsed)
    )


def test_activation_loss_matches_numpy():
    rng = np.random.default_rng(12)
    f = rng.normal(size=(6, 3, 2, 4)).astype(np.float32)
    expected = -np.abs(f.astype(np.float64)).reshape(6, -1).mean(axis=-1)
    np.testing.assert_allclose(
        to_numpy(losses.activation_loss(f)), expected, rtol=1e-5
    )
    np.testing.assert_allclose(
        to_numpy(losses.ActivationLoss()(f, f)),
        -np.abs(f.astype(np.float64)).mean(),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        to_numpy(losses.activation_loss(f[:, 0, 0, 0])),
        -np.abs(f[:, 0, 0, 0]),
        rtol=1e-6,
    )


LOGIT_LOSSES = [
    losses.KLDivergenceWithTemperature(3.0),
    losses.L1LogitsLoss(),
    losses.MaskedKLDivergence(),
    losses.JensenShannonDivergence(2.0),
]


@pytest.mark.parametrize("loss_fn", LOGIT_LOSSES, ids=lambda x: x.name)
def test_logit_loss_gradients_are_finite_and_nonzero(loss_fn):
    t, s = random_logits(13), random_logits(14)
    g = gradient(lambda v: loss_fn(t, v), s)
    assert g.shape == s.shape
    assert np.all(np.isfinite(g))
    assert np.abs(g).sum() > 0.0


@pytest.mark.parametrize(
    "loss_fn",
    [
        losses.OneHotCrossEntropy(),
        losses.InformationEntropyLoss(),
        losses.ActivationLoss(),
    ],
    ids=lambda x: x.name,
)
def test_target_free_loss_gradients_are_finite_and_nonzero(loss_fn):
    t = random_logits(15)
    g = gradient(lambda v: loss_fn(v, v), t)
    assert np.all(np.isfinite(g))
    assert np.abs(g).sum() > 0.0


# --------------------------------------------------------------------------
# Batch-norm statistics loss.
# --------------------------------------------------------------------------


def bn_inputs(seed):
    rng = np.random.default_rng(seed)
    features = [
        rng.normal(1.0, 2.0, size=(8, 5, 5, 3)).astype(np.float32),
        rng.normal(-0.5, 0.5, size=(8, 6)).astype(np.float32),
    ]
    means = [
        rng.normal(size=(3,)).astype(np.float32),
        rng.normal(size=(6,)).astype(np.float32),
    ]
    variances = [
        rng.uniform(0.5, 2.0, size=(3,)).astype(np.float32),
        rng.uniform(0.5, 2.0, size=(6,)).astype(np.float32),
    ]
    return features, means, variances


def test_batch_norm_statistics_loss_matches_numpy():
    features, means, variances = bn_inputs(0)
    expected = sum(
        np_bn_distance(*np_bn_terms(x, m, v), m, v)
        for x, m, v in zip(features, means, variances)
    )
    value = losses.batch_norm_statistics_loss(features, means, variances)
    np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-5)
    layer = losses.BatchNormStatisticsLoss()
    out = layer(features, means, variances)
    assert to_numpy(out).shape == ()
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-5)
    assert not layer.weights


def test_batch_norm_statistics_loss_accepts_variables_and_float16():
    features, means, variances = bn_inputs(1)
    expected = to_numpy(
        losses.batch_norm_statistics_loss(features, means, variances)
    )
    layer = losses.BatchNormStatisticsLoss()
    out = layer(
        [ops.cast(x, "float16") for x in features],
        [keras.Variable(m) for m in means],
        [keras.Variable(v) for v in variances],
    )
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-2)


def test_batch_norm_statistics_loss_is_float32_under_mixed_precision():
    features, means, variances = bn_inputs(1)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = losses.BatchNormStatisticsLoss(momentum=0.5)
        out = layer(features, means, variances)
    finally:
        keras.config.set_dtype_policy(previous)
    assert layer.compute_dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    expected = to_numpy(
        losses.batch_norm_statistics_loss(features, means, variances)
    )
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-5)


def test_batch_norm_statistics_loss_with_momentum_matches_numpy():
    m = 0.9
    _, means, variances = bn_inputs(2)
    batches = [bn_inputs(10 + i)[0] for i in range(3)]
    layer = losses.BatchNormStatisticsLoss(momentum=m)

    ema = None
    for step, features in enumerate(batches):
        stats = [
            np_bn_terms(x, mm, mv)
            for x, mm, mv in zip(features, means, variances)
        ]
        expected = 0.0
        for (mean, var), mm, mv, i in zip(
            stats, means, variances, range(len(stats))
        ):
            if ema is not None:
                mean = (1 - m) * mean + m * ema[i][0]
                var = (1 - m) * var + m * ema[i][1]
            expected += np_bn_distance(mean, var, mm, mv)
        out = layer(features, means, variances)
        np.testing.assert_allclose(
            to_numpy(out), expected, rtol=1e-5, err_msg=f"step {step}"
        )
        # The last batch moments are stored.
        for i, (mean, var) in enumerate(stats):
            np.testing.assert_allclose(
                to_numpy(layer.last_means[i]), mean, rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(
                to_numpy(layer.last_variances[i]), var, rtol=1e-5
            )
        layer.update_ema()
        if ema is None:
            ema = [(mean, var) for mean, var in stats]
        else:
            ema = [
                (m * e_mean + (1 - m) * mean, m * e_var + (1 - m) * var)
                for (e_mean, e_var), (mean, var) in zip(ema, stats)
            ]
        assert to_numpy(layer.initialized) == 1.0
        for i, (e_mean, e_var) in enumerate(ema):
            np.testing.assert_allclose(
                to_numpy(layer.ema_means[i]), e_mean, rtol=1e-5, atol=1e-6
            )
            np.testing.assert_allclose(
                to_numpy(layer.ema_variances[i]), e_var, rtol=1e-5
            )

    # 2 layers x 4 statistics + the `initialized` flag, none trainable.
    assert len(layer.non_trainable_variables) == 9
    assert not layer.trainable_variables


def test_batch_norm_statistics_loss_momentum_in_compiled_code():
    """The stateful layer runs in `tf.function` / `jax.jit` (stateless)."""
    m = 0.5
    _, means, variances = bn_inputs(3)
    batches = [bn_inputs(20 + i)[0] for i in range(2)]

    eager = losses.BatchNormStatisticsLoss(momentum=m)
    expected = []
    for features in batches:
        expected.append(to_numpy(eager(features, means, variances)))
        eager.update_ema()

    layer = losses.BatchNormStatisticsLoss(momentum=m)
    layer.build([x.shape for x in batches[0]])
    if keras.backend.backend() == "jax":
        import jax

        @jax.jit
        def step(state, features):
            loss, state = layer.stateless_call(
                [], state, features, means, variances
            )
            mapping = list(zip(layer.non_trainable_variables, state))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                layer.update_ema()
            state = [
                scope.get_current_value(v)
                for v in layer.non_trainable_variables
            ]
            return loss, state

        state = [v.value for v in layer.non_trainable_variables]
        got = []
        for features in batches:
            loss, state = step(state, features)
            got.append(np.asarray(loss))
        for v, value in zip(layer.non_trainable_variables, state):
            v.assign(value)
    else:
        import tensorflow as tf

        @tf.function
        def step(features):
            loss = layer(features, means, variances)
            layer.update_ema()
            return loss

        got = [step(features).numpy() for features in batches]

    np.testing.assert_allclose(got, expected, rtol=1e-5)
    for a, b in zip(
        eager.non_trainable_variables, layer.non_trainable_variables
    ):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-5)


def test_batch_norm_statistics_loss_gradients():
    features, means, variances = bn_inputs(4)
    for i in range(len(features)):

        def fn(x, i=i):
            inputs = list(features)
            inputs[i] = x
            return losses.batch_norm_statistics_loss(inputs, means, variances)

        g = gradient(fn, features[i])
        assert np.all(np.isfinite(g))
        assert np.abs(g).sum() > 0.0


def test_batch_norm_statistics_loss_gradient_is_finite_at_exact_match():
    x = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    mean, var = x.mean(0), x.var(0)
    value = losses.batch_norm_statistics_loss([x], [mean], [var])
    np.testing.assert_allclose(to_numpy(value), 0.0, atol=1e-6)
    g = gradient(
        lambda v: losses.batch_norm_statistics_loss([v], [mean], [var]), x
    )
    assert np.all(np.isfinite(g))


def test_batch_norm_statistics_loss_checks_lengths():
    features, means, variances = bn_inputs(5)
    with pytest.raises(ValueError, match="same length"):
        losses.batch_norm_statistics_loss(features, means[:1], variances)
    layer = losses.BatchNormStatisticsLoss(momentum=0.9)
    layer(features, means, variances)
    with pytest.raises(ValueError, match="built for 2"):
        layer(features[:1], means[:1], variances[:1])


# --------------------------------------------------------------------------
# Configuration, serialization and argument validation.
# --------------------------------------------------------------------------

ALL_OBJECTS = [
    losses.KLDivergenceWithTemperature(temperature=4.0, reduction="sum"),
    losses.L1LogitsLoss(name="l1"),
    losses.MaskedKLDivergence(temperature=2.0),
    losses.JensenShannonDivergence(temperature=3.0),
    losses.OneHotCrossEntropy(),
    losses.InformationEntropyLoss(),
    losses.ActivationLoss(reduction=None),
    losses.BatchNormStatisticsLoss(momentum=0.9, name="bn_loss"),
]


@pytest.mark.parametrize("obj", ALL_OBJECTS, ids=lambda x: type(x).__name__)
def test_get_config_round_trip(obj):
    config = obj.get_config()
    for key in ("temperature", "momentum"):
        if hasattr(obj, key):
            assert config[key] == getattr(obj, key)
    clone = type(obj).from_config(config)
    assert type(clone) is type(obj)
    assert clone.get_config() == config


@pytest.mark.parametrize("obj", ALL_OBJECTS, ids=lambda x: type(x).__name__)
def test_keras_serialization_round_trip(obj):
    serialized = keras.saving.serialize_keras_object(obj)
    assert serialized["registered_name"] == (f"keras_dfkd>{type(obj).__name__}")
    clone = keras.saving.deserialize_keras_object(serialized)
    assert type(clone) is type(obj)
    assert clone.get_config() == obj.get_config()


def test_loss_values_survive_round_trip():
    t, s = random_logits(16), random_logits(17)
    loss_fn = losses.KLDivergenceWithTemperature(temperature=4.0)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss_fn)
    )
    np.testing.assert_allclose(
        to_numpy(clone(t, s)), to_numpy(loss_fn(t, s)), rtol=1e-6
    )


@pytest.mark.parametrize(
    "cls",
    [
        losses.KLDivergenceWithTemperature,
        losses.MaskedKLDivergence,
        losses.JensenShannonDivergence,
    ],
)
@pytest.mark.parametrize("temperature", [0.0, -1.0, "2", True, None])
def test_bad_temperature_raises(cls, temperature):
    with pytest.raises(ValueError, match="temperature"):
        cls(temperature=temperature)


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5, "0.5", None])
def test_bad_momentum_raises(momentum):
    with pytest.raises(ValueError, match="momentum"):
        losses.BatchNormStatisticsLoss(momentum=momentum)


def test_bad_reduction_raises():
    with pytest.raises(ValueError, match="reduction"):
        losses.L1LogitsLoss(reduction="batchmean")
