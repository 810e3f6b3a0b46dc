"""JAX gradient and update plumbing of `DataFreeDistiller.train_step`.

The JAX trainer passes the whole model state explicitly and jit-compiles a
pure step, so every variable the shared `keras.ops` math touches is mapped
through a `StatelessScope`, and each group's optimizer is applied with
`stateless_apply` on its own slice of `model.optimizer.variables` (the
`MultiOptimizer`): a second optimizer outside that state would silently
never update.

On accelerators a round is one compiled function, and repeated phases run
in `jax.lax.fori_loop`, so compile time does not grow with the number of
steps. On one CPU device a round runs from the host instead: each hook and
each phase's gradient step is its own compiled function (state donated),
called as often as the phase repeats. XLA:CPU runs convolution gradients
inside a loop body about 40x slower than at the top level (measured: a
3x3 conv gradient at batch 100, 4.4 s vs 0.09 s), and unrolling the steps
instead makes compile time and memory grow with them (7.6 minutes and
13 GB for NAYER's 30 + 200 steps); compiled alone, each step compiles once
and skipped steps cost nothing. Several CPU devices (a
`keras.distribution`) keep the one-function round, unrolled.
"""

import ctypes
import sys

import jax
import jax.numpy as jnp
import keras
from keras import ops

from keras_dfkd.backend import keras_shims
from keras_dfkd.round_loop import RoundLoop


def _unroll_loops():
    return jax.default_backend() == "cpu"


def _libc_malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # Not glibc (e.g. musl).
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def _jit_donated(pure, donate_argnums):
    """`jax.jit(pure)` with its state arguments donated, compiled ahead of
    its first call, after which the compiler's freed memory is handed back
    to the system.

    XLA frees its compile-time scratch into glibc's heap, which keeps it:
    without the trim a process holds that (about 300 MB for NAYER's MNIST
    synthesis step) beside every later step's temporaries.
    `keep_unused`: a value a hook overwrites without reading (a
    re-initialised layer, zeroed slots) is otherwise pruned from the call,
    so not donated, and lives on beside its replacement.
    """
    function = jax.jit(pure, donate_argnums=donate_argnums, keep_unused=True)
    compiled = False

    def call(*args):
        nonlocal compiled
        if not compiled:
            function.lower(*args).compile()  # Fills `function`'s cache.
            if _MALLOC_TRIM is not None:
                _MALLOC_TRIM(0)
            compiled = True
        return function(*args)

    return call


def _host_rounds(model):
    """Whether `model`'s rounds run from the host (see the module doc)."""
    return (
        _unroll_loops()
        and keras.distribution.distribution() is None
        and model.jit_compile
        and not model.run_eagerly
    )


def _replaced(values, positions, new_values):
    """Returns a copy of the list `values` with `positions` set to new ones."""
    values = list(values)
    for position, value in zip(positions, new_values):
        values[position] = value
    return values


class _StraightThroughScope(keras.StatelessScope):
    """A scope in which assigning a trainable variable inside a
    differentiated loss acts as on a TensorFlow tape: later reads see the
    new value, and gradients pass to the variable as if it held it (the
    assignment itself is not differentiated). Keras's
    `SpectralNormalization` relies on this when it rewrites its kernel.
    """

    def __init__(self, state_mapping, trainable_ids):
        super().__init__(state_mapping=state_mapping)
        self._trainable_ids = trainable_ids

    def add_update(self, update):
        variable, value = update
        if id(variable) in self._trainable_ids:
            current = self.state_mapping[id(variable)]
            value = current + jax.lax.stop_gradient(value - current)
        super().add_update((variable, value))


class JAXDistillerStep(RoundLoop):
    """Mixin providing the JAX `train_step(state, data)`."""

    def train_step(self, state, data):
        del data  # Data-free: the dummy batch only counts rounds.
        round_state = _RoundState(self, state)
        results = self.run_round(round_state)
        return results, round_state.values()

    def make_train_function(self, force=False):
        if not _host_rounds(self):
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return
        functions = _HostFunctions(self)

        def train_function(state, iterator):
            # Like Keras's: one round per batch, `steps_per_execution`
            # batches per call, the first `next` ending the epoch.
            logs = None
            for i in range(self.steps_per_execution):
                try:
                    next(iterator)
                except StopIteration:
                    if i == 0:
                        raise
                    break
                round_state = _HostRoundState(functions, state)
                logs = self.run_round(round_state)
                state = round_state.values()
            return logs, state

        self.train_function = train_function


class _RoundState:
    """Carries the model's state (trainable, non-trainable, optimizer and
    metrics variables) through a round as values."""

    def __init__(self, model, state):
        self.model = model
        self.tv, self.ntv, self.ov, self.mv = (list(part) for part in state)

    def values(self):
        return self.tv, self.ntv, self.ov, self.mv

    def run(self, key, fn, *args):
        """Runs `fn(*args)` (which may assign variables) on the values."""
        del key
        result, values = _run_stateless(self.model, fn, self.values(), args)
        self.tv, self.ntv, self.ov, self.mv = values
        return result

    def count(self, repeats):
        return repeats

    def step(self, plan):
        self.tv, self.ntv, self.ov, logs = _phase_step(
            self.model, plan, self.tv, self.ntv, self.ov
        )
        return logs

    def loop(self, plan, repeats):
        model = self.model
        names = list(model.method.log_names)
        produced = []
        # Only the phase's optimizer slots are carried; all variables are,
        # since a loss may assign any of them (e.g. spectral normalization).
        ov = self.ov
        ov_positions = [j for g in plan.groups for j in g.optimizer_positions]

        def body(i, carry):
            tv, ntv, sub_ov, logs = carry
            tv, ntv, full_ov, phase_logs = _phase_step(
                model, plan, tv, ntv, _replaced(ov, ov_positions, sub_ov)
            )
            produced[:] = list(phase_logs)
            new = {n: jnp.asarray(v, "float32") for n, v in phase_logs.items()}
            return (
                tv,
                ntv,
                [full_ov[j] for j in ov_positions],
                {n: new.get(n, logs[n]) for n in names},
            )

        carry = (
            list(self.tv),
            self.ntv,
            [ov[j] for j in ov_positions],
            {n: jnp.zeros((), "float32") for n in names},
        )
        if _unroll_loops():
            # A dynamic count is at most the static `phase.repeats`; steps
            # past it are computed and discarded.
            for i in range(plan.phase.repeats):
                new = body(i, carry)
                if isinstance(repeats, int):
                    carry = new
                else:
                    carry = jax.tree_util.tree_map(
                        lambda a, b: jnp.where(i < repeats, a, b), new, carry
                    )
        else:
            carry = jax.lax.fori_loop(0, repeats, body, carry)
        self.tv, self.ntv, sub_ov, logs = carry
        self.ov = _replaced(ov, ov_positions, sub_ov)
        return {n: logs[n] for n in produced}


def _model_variables(model):
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def _run_stateless(model, fn, values, args):
    """`fn(*args)` on the state `values`; returns its result, new values."""
    variables = _model_variables(model)
    mapping = [
        pair
        for group, group_values in zip(variables, values)
        for pair in zip(group, group_values)
    ]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        result = fn(*args)
    values = tuple(
        [scope.get_current_value(v) for v in group] for group in variables
    )
    return result, values


class _HostFunctions:
    """A fit's compiled pieces of a round: each hook, each phase's step.

    Hooks are compiled on first use under their key, which names the same
    hook in every round (with the phase plans of this train function), so
    the closure compiled then serves all rounds. The state is donated: its
    buffers are reused in place rather than copied each call.
    """

    def __init__(self, model):
        self.model = model
        self.hooks = {}
        self.steps = {}

    def hook(self, key, fn):
        if key not in self.hooks:
            model = self.model

            def pure(values, args):
                return _run_stateless(model, fn, values, args)

            self.hooks[key] = _jit_donated(pure, donate_argnums=0)
        return self.hooks[key]

    def step_of(self, plan):
        """One step of `plan.phase` as a compiled function of the state."""
        # Keyed by identity; the plan is held so that its id stays unique.
        key = id(plan)
        if key not in self.steps:
            model = self.model

            def pure(tv, ntv, ov):
                return _phase_step(model, plan, tv, ntv, ov)

            function = _jit_donated(pure, donate_argnums=(0, 1, 2))
            self.steps[key] = (plan, function)
        return self.steps[key][1]


class _HostRoundState(_RoundState):
    """Runs a round from the host, one compiled piece at a time; a phase's
    steps are that many calls of its compiled step, and a count decided
    inside a hook (e.g. a warm-up) is read back, so skipped steps cost
    nothing."""

    def __init__(self, functions, state):
        super().__init__(functions.model, state)
        self.functions = functions

    def run(self, key, fn, *args):
        result, values = self.functions.hook(key, fn)(self.values(), args)
        self.tv, self.ntv, self.ov, self.mv = values
        return result

    def count(self, repeats):
        return repeats if isinstance(repeats, int) else int(repeats)

    def step(self, plan):
        function = self.functions.step_of(plan)
        self.tv, self.ntv, self.ov, logs = function(self.tv, self.ntv, self.ov)
        return logs

    def loop(self, plan, repeats):
        # One step per call. Four steps in one compiled call keep their
        # buffers live together: NAYER at CIFAR scale peaked at 3.7 GB
        # against 3.1 GB (for KD steps about 8 % faster), and on MNIST the KD
        # step was slower (24.9 against 22.5 ms).
        logs = {}
        for _ in range(repeats):
            logs = self.step(plan)
        return logs


def _model_mapping(model, tv, ntv):
    return list(zip(model.trainable_variables, tv)) + list(
        zip(model.non_trainable_variables, ntv)
    )


def _phase_step(model, plan, tv, ntv, ov):
    """One gradient step of `plan.phase`, as a pure function of the state."""
    trainable_ids = {id(v) for v in model.trainable_variables}

    def loss_fn(sub, tv, ntv):
        full = _replaced(tv, plan.variable_positions, sub)
        with _StraightThroughScope(
            _model_mapping(model, full, ntv), trainable_ids
        ) as scope:
            loss, logs = plan.phase.loss(model.student)
        new_tv = [
            jax.lax.stop_gradient(scope.get_current_value(v))
            for v in model.trainable_variables
        ]
        new_ntv = [
            scope.get_current_value(v) for v in model.non_trainable_variables
        ]
        return loss, (logs, new_tv, new_ntv)

    sub = [tv[p] for p in plan.variable_positions]
    (_, (logs, tv, ntv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        sub, tv, ntv
    )
    ov = list(ov)
    for group in plan.groups:
        positions = [plan.variable_positions[i] for i in group.sub_positions]
        new_vars, new_opt = group.optimizer.stateless_apply(
            [ov[j] for j in group.optimizer_positions],
            [grads[i] for i in group.sub_positions],
            [tv[p] for p in positions],
        )
        tv = _replaced(tv, positions, new_vars)
        ov = _replaced(ov, group.optimizer_positions, new_opt)
    return tv, ntv, ov, logs


def compiled_input_gradient(fn):
    """`x -> (fn(x), d fn / dx)`, compiled once, for a read-only `fn`.

    For eager helpers outside the training step (the input-range test)
    that call `fn` many times: `fn` may read Keras variables (their
    values are fixed at the first call) but must not assign any.
    """
    return jax.jit(jax.value_and_grad(fn))


def input_gradient(fn, x):
    """Returns `(fn(x), d fn(x) / dx)` for a scalar-valued `fn` of a tensor.

    `fn` may read and update Keras variables: it runs in a nested
    `StatelessScope` seeded with the enclosing one (the distiller step's),
    and the updates it makes (e.g. BatchNormalization statistics) are
    written back to that scope as plain values, as TensorFlow keeps them.
    Outside any scope, variables are read as they are and updates dropped.
    """
    outer = keras_shims.current_stateless_scope()

    def scoped(x):
        with keras.StatelessScope() as scope:
            if outer is not None:
                scope.state_mapping.update(outer.state_mapping)
            before = dict(scope.state_mapping)
            value = fn(x)
        updates = {
            key: new
            for key, new in scope.state_mapping.items()
            if before.get(key) is not new
        }
        return value, updates

    (value, updates), grad = jax.value_and_grad(scoped, has_aux=True)(x)
    if outer is not None:
        outer.state_mapping.update(updates)
    return value, grad


def _batch_shards(distribution, batch_size):
    """Number of devices the batch axis of `distribution` splits over."""
    layout = distribution.get_data_layout((batch_size,))
    axis = layout.axes[0]
    if axis is None:
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(axis)])


def num_devices(model=None):
    """Returns how many devices the active `keras.distribution` spans.

    1 when no distribution is set. `model` is unused (the TensorFlow
    version reads the model's strategy).
    """
    del model
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    return int(distribution.device_mesh.devices.size)


def needs_static_repeats(model):
    """False: a sharded JAX step may decide repeat counts inside."""
    del model
    return False


def distribute_batch(x):
    """Shards a batch drawn inside the step on the batch axis.

    Under a `keras.distribution` (e.g. `DataParallel`) tensors created
    inside the jitted step, such as noise, are not sharded by default:
    this lays `x` out with the distribution's data layout, so each device
    computes on its share of the batch while the math stays that of the
    whole batch. Without a distribution it returns `x` unchanged, and so
    it does outside the step (eagerly, e.g. `DataFreeDistiller.generate`
    for an image grid) when the batch does not divide by the devices.

    Args:
        x: a tensor whose first axis is the batch.

    Returns:
        `x`, sharded on its first axis.

    Raises:
        ValueError: if, inside the step, the batch does not divide by the
            number of devices the batch axis is split over.
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return x
    shape = tuple(x.shape)
    shards = _batch_shards(distribution, shape[0])
    if shards > 1 and shape[0] is not None and shape[0] % shards:
        if not isinstance(x, jax.core.Tracer):
            return x
        raise ValueError(
            f"A batch of {shape[0]} cannot be split evenly over the "
            f"{shards} devices of the active keras.distribution: choose a "
            f"batch size that is a multiple of {shards}."
        )
    return keras.distribution.distribute_tensor(
        x, distribution.get_data_layout(shape)
    )


def cross_replica_mean(x):
    """Returns `x`: under GSPMD a batch statistic is already global."""
    return x


def gather_rows(variable, indices):
    """`variable[indices]` along the first axis."""
    return ops.take(variable.value, indices, axis=0)


def scatter_rows(variable, indices, rows):
    """Sets `variable[indices[j]] = rows[j]`."""
    variable.assign(ops.scatter_update(variable.value, indices[:, None], rows))


def upsample_conv(x, kernel):
    """`conv(upsample_x2(x), kernel)` without the upsampled tensor.

    Nearest-neighbour x2 upsampling followed by a 3x3 `"same"` convolution
    (no bias, channels last) is, for each of the four output phases
    `(a, b)` (row and column parity), a 2x2 convolution of the zero-padded
    low-resolution input whose taps are sums of the 3x3 kernel's:

    ```
    rows of phase 0: (k[0], k[1] + k[2]) at input rows (i - 1, i)
    rows of phase 1: (k[0] + k[1], k[2]) at input rows (i, i + 1)
    out[2i + a, 2j + b] = conv2x2(pad(x), K_ab)[i + a, j + b]
    ```

    (the same for columns). The four 2x2 kernels run as one convolution
    with four times the output channels, then the phases are interleaved.
    Each output pixel reads 2x2 input pixels instead of 3x3 upsampled
    ones (2.25x fewer multiplications), and the upsampled tensor is never
    made or kept for the gradient. The result equals the two-step form to
    float rounding. A transposed convolution would do the same with no
    interleaving, but XLA:CPU runs it 4-9x slower than the plain
    convolution; this form takes a NAYER generator's forward and backward
    pass at batch 200 from 1.03 s to 0.68 s on a CPU.

    Args:
        x: `(batch, height, width, in_channels)` tensor.
        kernel: `(3, 3, in_channels, out_channels)` tensor.

    Returns:
        A `(batch, 2 * height, 2 * width, out_channels)` tensor.
    """

    def two_taps(k, axis):
        # Phase 0 reads offsets (-1, 0), phase 1 offsets (0, +1).
        k0, k1, k2 = (jnp.take(k, i, axis=axis) for i in range(3))
        return (
            jnp.stack([k0, k1 + k2], axis=axis),
            jnp.stack([k0 + k1, k2], axis=axis),
        )

    phase_kernels = [
        column for row in two_taps(kernel, 0) for column in two_taps(row, 1)
    ]
    _, height, width, _ = x.shape
    channels = kernel.shape[-1]
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    y = ops.conv(padded, jnp.concatenate(phase_kernels, axis=-1))
    phases = [
        y[:, a : a + height, b : b + width, g * channels : (g + 1) * channels]
        for g, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1)))
    ]
    # (batch, h, w, a, b, c) -> (batch, h, a, w, b, c) -> (batch, 2h, 2w, c)
    y = jnp.stack(phases, axis=3).reshape(-1, height, width, 2, 2, channels)
    y = jnp.transpose(y, (0, 1, 3, 2, 4, 5))
    return y.reshape(-1, 2 * height, 2 * width, channels)
