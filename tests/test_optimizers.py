"""The papers' optimizers against numpy references of PyTorch's updates."""

import keras
import numpy as np
import pytest

from keras_dfkd.backend import keras_shims
from keras_dfkd.optimizers import CoupledWeightDecaySGD
from keras_dfkd.optimizers import RunLengthCosineDecay
from keras_dfkd.testing import tiny_distiller
from keras_dfkd.testing import to_numpy


def torch_sgd(w, target, lr, momentum, wd, steps):
    """PyTorch's SGD on 0.5 |w - target|^2: decay inside the momentum."""
    buf = None
    for _ in range(steps):
        g = (w - target) + wd * w
        buf = g if buf is None else momentum * buf + g
        w = w - lr * buf
    return w


def run(optimizer, w, target, steps):
    variable = keras.Variable(w)
    for _ in range(steps):
        grad = to_numpy(variable) - target
        optimizer.apply_gradients(
            [(keras.ops.convert_to_tensor(grad), variable)]
        )
    return to_numpy(variable)


def test_coupled_decay_matches_pytorch_sgd():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype("float32")
    target = rng.normal(size=(4, 3)).astype("float32")
    expected = torch_sgd(w, target, 0.1, 0.9, 5e-4, 5)
    got = run(CoupledWeightDecaySGD(0.1, momentum=0.9, l2=5e-4), w, target, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # Keras's decoupled weight decay moves the weights differently.
    keras_sgd = keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=5e-4)
    decoupled = run(keras_sgd, w, target, 5)
    assert np.max(np.abs(decoupled - expected)) > 1e-5
    np.testing.assert_allclose(
        run(CoupledWeightDecaySGD(0.1, momentum=0.9), w, target, 5),
        torch_sgd(w, target, 0.1, 0.9, 0.0, 5),
        rtol=1e-5,
        atol=1e-6,
    )


def test_config_and_errors():
    optimizer = CoupledWeightDecaySGD(0.2, momentum=0.9, l2=1e-4)
    clone = CoupledWeightDecaySGD.from_config(optimizer.get_config())
    assert clone.l2 == 1e-4 and clone.momentum == 0.9
    with pytest.raises(ValueError, match="`l2`"):
        CoupledWeightDecaySGD(l2=-1.0)
    with pytest.raises(ValueError, match="decoupled"):
        CoupledWeightDecaySGD(weight_decay=1e-4)


def test_coupled_decay_trains_a_student_inside_the_distiller():
    # On JAX an optimizer outside the MultiOptimizer would never update.
    results = {}
    for l2 in (0.0, 0.5):
        distiller = tiny_distiller("bn_statistics")
        distiller.compile(
            student_optimizer=CoupledWeightDecaySGD(0.05, momentum=0.9, l2=l2)
        )
        before = [to_numpy(v) for v in distiller.student.trainable_variables]
        distiller.fit(steps=3, verbose=0)
        after = [to_numpy(v) for v in distiller.student.trainable_variables]
        assert all(not np.array_equal(a, b) for a, b in zip(before, after))
        results[l2] = after
    assert any(
        not np.allclose(a, b) for a, b in zip(results[0.0], results[0.5])
    )


def learning_rate(optimizer):
    return float(to_numpy(optimizer.learning_rate))


def test_fit_length_schedule_ends_with_the_first_fit():
    # NAYER: 1 warm-up round, then 4 rounds of 2 student steps.
    distiller = tiny_distiller(
        "nayer",
        decay_rounds="fit",
        student_optimizer="sgd",
        student_learning_rate=0.1,
        min_student_learning_rate=1e-3,
    )
    distiller.compile()
    optimizer = distiller.optimizers["student"]
    schedule = keras_shims.learning_rate_schedule(optimizer)
    assert isinstance(schedule, RunLengthCosineDecay)
    assert schedule.decay_steps is None
    distiller.fit(steps=5, verbose=0)
    assert schedule.decay_steps == 8
    assert int(to_numpy(optimizer.iterations)) == 8
    np.testing.assert_allclose(learning_rate(optimizer), 1e-3, rtol=1e-5)
    # Halfway through the decay, the cosine's midpoint.
    np.testing.assert_allclose(
        float(to_numpy(schedule(4))), 1e-3 + (0.1 - 1e-3) / 2, rtol=1e-5
    )
    with pytest.warns(UserWarning, match="goes past its end"):
        distiller.fit(steps=2, verbose=0)
    assert schedule.decay_steps == 8


def test_fit_length_schedule_of_pre_dfkd_reaches_zero():
    distiller = tiny_distiller(
        "pre_dfkd", student_optimizer="sgd", student_learning_rate=0.1
    )
    assert distiller.method.decay_rounds == "fit"  # The default.
    distiller.compile()
    distiller.fit(steps=3, verbose=0)
    optimizer = distiller.optimizers["student"]
    assert keras_shims.learning_rate_schedule(optimizer).decay_steps == 6
    assert learning_rate(optimizer) == pytest.approx(0.0, abs=1e-9)


def test_run_length_schedule_config_and_open_length():
    schedule = RunLengthCosineDecay(0.1, alpha=0.01)
    # Before a fit gives it a length: the starting rate.
    np.testing.assert_allclose(float(to_numpy(schedule(5))), 0.1, rtol=1e-6)
    schedule.decay_steps = 10
    clone = RunLengthCosineDecay.from_config(schedule.get_config())
    assert clone.decay_steps == 10 and clone.alpha == 0.01
    np.testing.assert_allclose(float(to_numpy(clone(10))), 1e-3, rtol=1e-5)
    assert keras_shims.learning_rate_schedule(keras.optimizers.SGD(0.1)) is None


def test_sgd_l2_is_the_coupled_decay_with_the_methods_weight_decay():
    distiller = tiny_distiller(
        "pre_dfkd", student_optimizer="sgd_l2", student_weight_decay=5e-4
    )
    distiller.compile()
    optimizer = distiller.optimizers["student"]
    assert isinstance(optimizer, CoupledWeightDecaySGD)
    assert optimizer.l2 == 5e-4 and optimizer.momentum == 0.9
    # The papers' SGD rate, as for "sgd".
    assert distiller.method.resolved_student_learning_rate() == 0.1
    with pytest.raises(ValueError, match="sgd_l2"):
        tiny_distiller("pre_dfkd", student_optimizer="sgd2")
