"""The private Keras internals keras_dfkd needs, named in one place.

Keras 3 offers no public API for these; each is wrapped here, so that a
Keras upgrade that moves one breaks one function, and
`tests/test_keras_shims.py` says which.

- `flatten_layers`: every sublayer of a layer, nested ones included
  (`Layer._flatten_layers`); `Model.layers` lists only the top level and
  a plain layer's sublayers are not listed at all.
- `run_through_graph`: re-runs a Functional model's graph with a custom
  call per layer (`Functional._run_through_graph`). Keras has no forward
  hooks; this is how the inputs of BatchNorm layers inside a nested base
  model are read.
- `current_stateless_scope`: the active `keras.StatelessScope`, or
  `None` (`keras.src.backend.common.stateless_scope`).
- `learning_rate_schedule`: an optimizer's schedule object, or `None`
  (`optimizer._learning_rate`); the public `learning_rate` returns the
  schedule's current value.
- `set_random_seed`: `keras.utils.set_random_seed` without importing
  TensorFlow on another backend (Keras imports it to seed `tf.data`,
  which costs a JAX process about 480 MB of memory); it sets Keras's
  global seed (`keras.src.backend.common.global_state`, under the
  attribute names Keras's `rng_utils` and `seed_generator` define).
"""

import random
import sys

import keras
import numpy as np
from keras.src.backend.common import global_state
from keras.src.backend.common import stateless_scope
from keras.src.random import seed_generator
from keras.src.utils import rng_utils


def flatten_layers(layer, include_self=True):
    """`layer` (if `include_self`) and all its sublayers, depth first."""
    return list(layer._flatten_layers(include_self=include_self))


def is_graph_model(layer):
    """Whether `layer` is a model whose graph `run_through_graph` can run."""
    return hasattr(layer, "_run_through_graph")


def run_through_graph(model, inputs, call_fn):
    """Runs `model`'s graph on `inputs`, each layer through `call_fn`.

    `call_fn(layer, *args, **kwargs)` replaces `layer(*args, **kwargs)`.
    """
    return model._run_through_graph(inputs, call_fn=call_fn)


def current_stateless_scope():
    """The innermost active `keras.StatelessScope`, or `None`."""
    return stateless_scope.get_stateless_scope()


def learning_rate_schedule(optimizer):
    """`optimizer`'s `LearningRateSchedule`, or `None` for a fixed rate."""
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return schedule
    return None


def set_random_seed(seed):
    """Seeds Python, NumPy and Keras like `keras.utils.set_random_seed`.

    On JAX, TensorFlow is seeded only when it is already imported, so a
    process that does not use it does not load it.
    """
    if keras.config.backend() != "jax" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    if not isinstance(seed, int):
        raise ValueError(f"`seed` must be an int; received {seed!r}.")
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(
        seed_generator.GLOBAL_SEED_GENERATOR, None
    )
    random.seed(seed)
    np.random.seed(seed)
