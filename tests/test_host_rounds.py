"""JAX on one CPU device runs each round from the host, step by step.

The round's hooks and gradient steps are compiled one by one
(`keras_dfkd.backend.jax`); the weights must match the round compiled as
one function, as it runs on accelerators, to float rounding.
"""

import keras
import numpy as np
import pytest

from keras_dfkd import testing

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="a JAX CPU code path"
)


def weights_after(name, rounds, **overrides):
    distiller = testing.tiny_distiller(name, **overrides)
    distiller.compile()
    distiller.fit(steps=rounds, verbose=0)
    # In creation order: the paths of auto-named layers differ.
    return [
        (v.path, keras.ops.convert_to_numpy(v)) for v in distiller.variables
    ]


@pytest.mark.parametrize(
    "name, overrides",
    [
        # 5 student steps: one call of four, then one single step; the
        # warm-up round's student steps are skipped, not masked.
        ("nayer", dict(student_steps=5, warmup_rounds=1)),
        ("pre_dfkd", {}),
        ("large_scale", dict(generator_rounds=1, joint=False)),
    ],
)
def test_host_round_matches_the_one_function_round(
    name, overrides, monkeypatch
):
    from keras_dfkd.backend import jax as jax_backend

    host = weights_after(name, 2, **overrides)
    monkeypatch.setattr(jax_backend, "_host_rounds", lambda model: False)
    whole = weights_after(name, 2, **overrides)
    assert len(host) == len(whole)
    worst = 0.0
    for (path, a), (_, b) in zip(host, whole):
        if a.dtype == "uint8":
            # A pooled pixel on a rounding boundary may land one step off.
            difference = np.abs(a.astype(int) - b.astype(int))
            assert difference.max(initial=0) <= 1, path
            assert np.mean(difference) < 1e-3, path
            continue
        worst = max(worst, float(np.max(np.abs(a - b), initial=0)))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=path)
    print(name, "largest difference", worst)


def test_host_round_hands_every_old_value_over():
    # NAYER redraws its noisy layer and zeroes the generator's Adam slots
    # without reading them; a compiled hook prunes such arguments unless
    # told to keep them, and a pruned one is not donated: the old array
    # would stay alive beside its replacement for the rest of the fit.
    distiller = testing.tiny_distiller("nayer")
    distiller.compile()
    distiller.fit(steps=1, verbose=0)  # Builds every variable.
    old = {v.path: v.value for v in distiller.variables}
    distiller.fit(steps=1, verbose=0)
    alive = [path for path, value in old.items() if not value.is_deleted()]
    assert not alive
