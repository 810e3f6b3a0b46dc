"""Benchmark: where the memory of one NAYER distillation process goes.

Builds `step_time.py`'s `nayer_mnist_step` pair (`nayer_step_pair.py`) at
one synthesis and one KD step per round and prints the process's resident
memory (VmRSS) and its high-water mark (VmHWM) after importing Keras,
after building and compiling the distiller and after each round; then
the resident memory by mapping (`/proc/self/smaps`: anonymous memory, the
heap, each shared library).
On JAX it also prints the compiled synthesis step's buffers from XLA's
`memory_analysis()`.

    KERAS_BACKEND=jax python benchmarks/memory_probe.py --batch_size=200

Linux only (it reads `/proc/self`).
"""

import collections
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 200, "Synthesis batch.")
flags.DEFINE_integer("rounds", 4, "Rounds to run.")


def status():
    """`'RSS a MB, peak b MB'` of this process."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                values[line.split(":")[0]] = int(line.split()[1]) // 1024
    return f"RSS {values['VmRSS']:,} MB, peak {values['VmHWM']:,} MB"


def resident_by_mapping(top=6):
    """The largest resident mappings, `[(MB, name)]`."""
    sizes = collections.Counter()
    name = None
    with open("/proc/self/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and not parts[0].endswith(":"):
                name = parts[5] if len(parts) > 5 else "[anonymous]"
            elif parts[0] == "Rss:":
                sizes[os.path.basename(name)] += int(parts[1])
    return [(kb / 1024, n) for n, kb in sizes.most_common(top)]


def main(argv):
    del argv
    print(f"start: {status()}")
    import keras
    from nayer_step_pair import PRESETS
    from nayer_step_pair import build_distiller

    print(f"imported Keras ({keras.config.backend()}): {status()}")
    distiller = build_distiller(
        PRESETS["nayer_mnist_step"], 1, 1, batch_size=FLAGS.batch_size
    )
    print(f"built and compiled: {status()}")

    class Report(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            print(f"round {batch}: {status()}")

    distiller.fit(steps=FLAGS.rounds, callbacks=[Report()], verbose=0)
    print("resident by mapping:")
    for megabytes, name in resident_by_mapping():
        print(f"  {megabytes:8.1f} MB  {name}")
    if keras.config.backend() == "jax":
        print_xla_buffers(distiller)


def print_xla_buffers(distiller):
    """XLA's buffer sizes of the distiller's synthesis step, compiled."""
    import jax

    from keras_dfkd.backend import jax as jax_backend

    plan = distiller._phase_plans[0]
    # Trainable, non-trainable and optimizer variables: a step's state.
    groups = jax_backend._model_variables(distiller)[:3]
    state = [[v.value for v in group] for group in groups]

    def step(tv, ntv, ov):
        return jax_backend._phase_step(distiller, plan, tv, ntv, ov)

    compiled = jax.jit(step, donate_argnums=(0, 1, 2)).lower(*state).compile()
    analysis = compiled.memory_analysis()
    print(f"XLA buffers of the {plan.phase.name!r} step:")
    for field in ("argument", "output", "alias", "temp"):
        size = getattr(analysis, f"{field}_size_in_bytes") / 2**20
        print(f"  {field:8s} {size:8.1f} MB")


if __name__ == "__main__":
    app.run(main)
