"""Records (or checks) every method's weights after 20 seeded rounds.

A refactoring that must leave behaviour unchanged is checked with it:
record on the old code, check on the new, on each backend.

    KERAS_BACKEND=jax python scripts/round_fingerprints.py \
        --output=/tmp/before_jax.json
    KERAS_BACKEND=jax python scripts/round_fingerprints.py \
        --compare=/tmp/before_jax.json

`--compare` reports each method as bit-identical, within `--rtol` of the
recorded weights (an operation order changed), or different.
"""

import argparse
import hashlib
import json
import sys

import keras
import numpy as np

import keras_dfkd

ROUNDS = 20


def small_net(width, name):
    inputs = keras.Input((16, 16, 1))
    x = inputs
    for _ in range(2):
        x = keras.layers.Conv2D(width, 3, padding="same")(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name=name)


def methods():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(10, 16)).astype("float32")
    return {
        "dafl": lambda: keras_dfkd.methods.DAFL(
            batch_size=16, generator_width=4, seed=3
        ),
        "dfad": lambda: keras_dfkd.methods.DFAD(
            batch_size=16, generator_width=4, student_steps=2, seed=3
        ),
        "bn_statistics": lambda: keras_dfkd.methods.BNStatistics(
            batch_size=16, generator_width=4, student_steps=2, seed=3
        ),
        # Both stages: 8 generator rounds, then 12 distillation rounds.
        "large_scale": lambda: keras_dfkd.methods.LargeScale(
            batch_size=16,
            ensemble_size=2,
            generator_rounds=8,
            generator_width=4,
            latent_dim=8,
            student_steps=2,
            seed=3,
        ),
        "nayer": lambda: keras_dfkd.methods.NAYER(
            label_embeddings=embeddings,
            batch_size=20,
            generator_steps=2,
            student_steps=2,
            student_batch_size=8,
            warmup_rounds=2,
            generator_life=3,
            noise_dim=16,
            generator_width=4,
            pool_capacity=50,
            seed=3,
        ),
        "pre_dfkd": lambda: keras_dfkd.methods.PreDFKD(
            batch_size=16,
            memory_batch_size=4,
            latent_dim=16,
            generator_width=4,
            student_steps=2,
            replay_steps=1,
            vae_latent_dim=8,
            vae_width=4,
            seed=1,
        ),
    }


def fingerprint(make_method):
    keras.utils.set_random_seed(0)
    distiller = keras_dfkd.DataFreeDistiller(
        small_net(8, "teacher"),
        small_net(4, "student"),
        make_method(),
        input_range=((0.5,), (0.25,)),
    )
    distiller.compile()
    distiller.fit(steps=ROUNDS, verbose=0)
    weights = {}
    for variable in distiller.variables:
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        weights[variable.path] = {
            "sha256": hashlib.sha256(value.tobytes()).hexdigest(),
            "values": value.astype("float64").ravel().tolist(),
        }
    return weights


def compare(recorded, current, rtol):
    """Returns `(same, verdict)`: bit-identical or within `rtol`."""
    if set(recorded) != set(current):
        return False, "different variables: " + ", ".join(
            sorted(set(recorded) ^ set(current))
        )
    if all(recorded[k]["sha256"] == current[k]["sha256"] for k in recorded):
        return True, "bit-identical"
    worst = 0.0
    for key in recorded:
        a = np.array(recorded[key]["values"])
        b = np.array(current[key]["values"])
        scale = np.maximum(np.abs(a), 1e-12)
        worst = max(worst, float(np.max(np.abs(a - b) / scale, initial=0)))
    same = worst <= rtol
    verdict = "within" if same else "DIFFERENT, beyond"
    return same, (
        f"{verdict} rtol {rtol:g} (worst relative difference {worst:.3g})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="Where to write the fingerprints.")
    parser.add_argument("--compare", help="Fingerprints to check against.")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--methods", default=",".join(methods()))
    args = parser.parse_args()
    registry = methods()
    results = {
        name: fingerprint(registry[name]) for name in args.methods.split(",")
    }
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {
                    "backend": keras.backend.backend(),
                    "rounds": ROUNDS,
                    "methods": results,
                },
                f,
            )
    if args.compare:
        with open(args.compare) as f:
            recorded = json.load(f)["methods"]
        failed = False
        for name, weights in results.items():
            same, verdict = compare(recorded[name], weights, args.rtol)
            failed |= not same
            print(f"{name}: {verdict}")
        sys.exit(int(failed))


if __name__ == "__main__":
    main()
