"""Records (or checks) every method's weights after 20 seeded rounds.

A refactoring that must leave behaviour unchanged is checked with it:
record on the old code, check on the new, on each backend.

    KERAS_BACKEND=jax python scripts/round_fingerprints.py \
        --output=/tmp/before_jax.json
    KERAS_BACKEND=jax python scripts/round_fingerprints.py \
        --compare=/tmp/before_jax.json

`--compare` reports each method as bit-identical, within `--rtol` of the
recorded weights (an operation order changed), or different.
Variables are keyed by path, and Keras numbers auto-named layers per
process, so compare with the same `--methods` as were recorded. A
variable that moved into a sub-layer keeps its values under a new path;
`RENAMED` maps the recorded paths to today's.
"""

import argparse
import hashlib
import json
import sys

import keras
import numpy as np

from keras_dfkd import testing

ROUNDS = 20


#: `{name: (tiny method, overrides)}`: the configurations recorded.
CONFIGURATIONS = {
    "dafl": ("dafl", {}),
    "dfad": ("dfad", {}),
    "bn_statistics": (
        "bn_statistics",
        dict(batch_norm_momentum=0.0, augmentation=None),
    ),
    # Both stages: 8 generator rounds, then 12 distillation rounds.
    "large_scale": ("large_scale", dict(generator_rounds=8, joint=False)),
    "nayer": ("nayer", dict(warmup_rounds=2, generator_life=3, noise_dim=16)),
    "pre_dfkd": ("pre_dfkd", {}),
    "deep_inversion": ("deep_inversion", {}),
    "fast": ("fast", {}),
    "cmi": ("cmi", {}),
}


#: `{recorded path: current path}` for variables that moved.
RENAMED = {
    "nayer/best_loss": "best/loss",
    "nayer/best_images": "best/images",
}


def fingerprint(name):
    tiny, overrides = CONFIGURATIONS[name]
    distiller = testing.tiny_distiller(
        tiny,
        teacher=lambda: testing.small_net(8, "teacher", pool_each_block=True),
        student=lambda: testing.small_net(4, "student", pool_each_block=True),
        input_range=testing.STANDARDIZED_HALF,
        **overrides,
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
    recorded = {RENAMED.get(k, k): v for k, v in recorded.items()}
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
    parser.add_argument("--methods", default=",".join(CONFIGURATIONS))
    args = parser.parse_args()
    results = {name: fingerprint(name) for name in args.methods.split(",")}
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
