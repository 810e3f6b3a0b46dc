"""The private Keras internals behind `keras_dfkd.backend.keras_shims`.

Each test fails with the shim's name when a Keras upgrade moves it.
"""

import os
import random
import subprocess
import sys

import keras
import numpy as np

from keras_dfkd.backend import keras_shims


def nested_model():
    inner_in = keras.Input((4,))
    inner = keras.Model(
        inner_in, keras.layers.Dense(3, name="inner_dense")(inner_in)
    )
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, name="head")(inner(inputs))
    return keras.Model(inputs, outputs), inner


def test_flatten_layers_reaches_nested_layers():
    model, inner = nested_model()
    names = [layer.name for layer in keras_shims.flatten_layers(model)]
    assert names[0] == model.name
    assert "inner_dense" in names and "head" in names
    assert inner.name in names
    without = keras_shims.flatten_layers(model, include_self=False)
    assert model not in without


def test_run_through_graph_sees_every_call_and_matches_the_model():
    model, _ = nested_model()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    called = []

    def call(layer, *args, **kwargs):
        called.append(layer.name)
        return layer(*args, **kwargs)

    assert keras_shims.is_graph_model(model)
    assert not keras_shims.is_graph_model(keras.layers.Dense(2))
    out = keras_shims.run_through_graph(model, x, call)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out),
        keras.ops.convert_to_numpy(model(x)),
        rtol=1e-6,
    )
    assert called[-1] == "head" and len(called) == 2


def test_current_stateless_scope():
    assert keras_shims.current_stateless_scope() is None
    with keras.StatelessScope() as scope:
        assert keras_shims.current_stateless_scope() is scope
    assert keras_shims.current_stateless_scope() is None


def test_set_random_seed_matches_keras_and_leaves_tensorflow_unloaded():
    keras_shims.set_random_seed(3)
    ours = [keras.random.normal((3,)), np.random.rand(), random.random()]
    keras.utils.set_random_seed(3)
    theirs = [keras.random.normal((3,)), np.random.rand(), random.random()]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ours[0]),
        keras.ops.convert_to_numpy(theirs[0]),
    )
    assert ours[1:] == theirs[1:]
    # In a fresh JAX process, the shim must not load TensorFlow.
    code = (
        "import sys\n"
        "from keras_dfkd.backend import keras_shims\n"
        "keras_shims.set_random_seed(0)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "False"
