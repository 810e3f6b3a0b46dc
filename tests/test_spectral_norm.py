"""`SpectralNorm` against numpy: PyTorch's `spectral_norm` semantics."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_dfkd.layers import SpectralNorm
from keras_dfkd.testing import gradient
from keras_dfkd.testing import to_numpy


def numpy_power_iteration(matrix, u, v, steps):
    """PyTorch's loop on `W = matrix.T` (units x fan_in)."""
    w = matrix.T
    for _ in range(steps):
        v = w.T @ u
        v = v / max(np.linalg.norm(v), 1e-12)
        u = w @ v
        u = u / max(np.linalg.norm(u), 1e-12)
    return u, v, float(u @ w @ v)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: keras.layers.Dense(5), (3, 7)),
        (lambda: keras.layers.Conv2D(4, 3, padding="same"), (2, 6, 6, 3)),
    ],
)
def test_matches_numpy_and_leaves_the_kernel(layer, shape):
    keras.utils.set_random_seed(0)
    wrapped = SpectralNorm(layer(), power_iterations=2)
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    wrapped.build(shape)
    kernel = to_numpy(wrapped.layer.kernel).copy()
    matrix = kernel.reshape(-1, kernel.shape[-1])
    u0, v0 = to_numpy(wrapped.u), to_numpy(wrapped.v)
    np.testing.assert_allclose(np.linalg.norm(u0), 1.0, rtol=1e-6)
    out = to_numpy(wrapped(x, training=True))
    u, v, sigma = numpy_power_iteration(matrix, u0, v0, 2)
    np.testing.assert_allclose(to_numpy(wrapped.u), u, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(to_numpy(wrapped.v), v, rtol=1e-4, atol=1e-6)
    # The forward pass writes nothing back into the kernel.
    np.testing.assert_array_equal(to_numpy(wrapped.layer.kernel), kernel)
    reference = layer()
    reference.build(shape)
    reference.set_weights([kernel / sigma, to_numpy(wrapped.layer.bias)])
    np.testing.assert_allclose(
        out, to_numpy(reference(x)), rtol=1e-4, atol=1e-5
    )
    # Inference reuses the stored u and v.
    frozen = to_numpy(wrapped.u)
    wrapped(x, training=False)
    np.testing.assert_array_equal(to_numpy(wrapped.u), frozen)


def test_effective_kernel_has_unit_spectral_norm():
    keras.utils.set_random_seed(2)
    wrapped = SpectralNorm(keras.layers.Dense(6))
    x = np.ones((1, 9), "float32")
    for _ in range(60):
        wrapped(x, training=True)
    kernel = to_numpy(wrapped.layer.kernel)
    sigma = float(to_numpy(wrapped.sigma()))
    top = np.linalg.svd(kernel, compute_uv=False)[0]
    np.testing.assert_allclose(sigma, top, rtol=1e-4)
    effective = np.linalg.svd(kernel / sigma, compute_uv=False)[0]
    np.testing.assert_allclose(effective, 1.0, rtol=1e-4)


def test_gradient_flows_through_sigma():
    # d/dK sum(g * x (K / sigma(K))) with sigma = u^T K^T v, u and v fixed:
    # (x^T g) / sigma - <x^T g, K> / sigma^2 * outer(v, u).
    keras.utils.set_random_seed(3)
    wrapped = SpectralNorm(keras.layers.Dense(4, use_bias=False))
    wrapped.build((5, 3))
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3)).astype("float32")
    g = rng.normal(size=(5, 4)).astype("float32")
    kernel = to_numpy(wrapped.layer.kernel)
    state = [to_numpy(v) for v in wrapped.non_trainable_variables]

    def loss(k):
        out, _ = wrapped.stateless_call([k], state, x, training=False)
        return ops.sum(out * g)

    got = gradient(loss, kernel)
    u, v = to_numpy(wrapped.u), to_numpy(wrapped.v)
    sigma = float(u @ kernel.T @ v)
    xg = x.T @ g
    expected = xg / sigma - np.sum(xg * kernel) / sigma**2 * np.outer(v, u)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # Keras's SpectralNormalization gives no sigma term: the two differ.
    assert not np.allclose(got, xg / sigma, atol=1e-4)


def test_serialization_and_errors(tmp_path):
    wrapped = SpectralNorm(keras.layers.Dense(3), power_iterations=3)
    clone = SpectralNorm.from_config(wrapped.get_config())
    assert clone.power_iterations == 3
    # A .keras file keeps the raw kernel and the power-iteration state.
    inputs = keras.Input((5,))
    model = keras.Model(inputs, SpectralNorm(keras.layers.Dense(3))(inputs))
    x = np.random.default_rng(5).normal(size=(2, 5)).astype("float32")
    model(x, training=True)
    model.save(str(tmp_path / "sn.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "sn.keras"))
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNorm(keras.layers.Dense(3), power_iterations=0)
    with pytest.raises(ValueError, match="needs a layer with a `kernel`"):
        SpectralNorm(keras.layers.ReLU()).build((1, 3))
