"""JAX gradient and update plumbing of `DataFreeDistiller.train_step`.

The JAX trainer passes the whole model state explicitly and jit-compiles a
pure step, so every variable the shared `keras.ops` math touches is mapped
through a `StatelessScope`, and each group's optimizer is applied with
`stateless_apply` on its own slice of `model.optimizer.variables` (the
`MultiOptimizer`): a second optimizer outside that state would silently
never update. Repeated phases run in `jax.lax.fori_loop` on accelerators,
so compile time does not grow with the number of steps; on CPU they are
unrolled, because XLA:CPU runs convolution gradients inside a loop body
about 40x slower than at the top level (measured: a 3x3 conv gradient at
batch 100, 4.4 s vs 0.09 s).
"""

import jax
import jax.numpy as jnp
import keras
from keras.src.backend.common import stateless_scope


def _unroll_loops():
    return jax.default_backend() == "cpu"


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


class JAXDistillerStep:
    """Mixin providing the JAX `train_step(state, data)`."""

    def train_step(self, state, data):
        del data  # Data-free: the dummy batch only counts rounds.
        tv, ntv, ov, mv = (list(part) for part in state)
        logs, weights = {}, {}
        for plan in self._phase_plans:
            tv, ntv, ov, repeats = self._jax_begin_phase(plan, tv, ntv, ov)
            if isinstance(repeats, int) and repeats == 1:
                tv, ntv, ov, phase_logs = self._jax_phase(plan, tv, ntv, ov)
                weight = 1.0
            else:
                tv, ntv, ov, phase_logs = self._jax_phase_loop(
                    plan, repeats, tv, ntv, ov
                )
                weight = jnp.minimum(repeats, 1).astype("float32")
            phase = plan.phase
            tv, ntv, end_logs = self._jax_stateful(
                lambda: self.method.on_phase_end(phase), tv, ntv
            )
            for name, value in phase_logs.items():
                logs[name], weights[name] = value, weight
            for name, value in (end_logs or {}).items():
                logs[name], weights[name] = value, 1.0
        tv, ntv, _ = self._jax_stateful(self.method.after_round, tv, ntv)
        self._add_log_aliases(logs, weights)
        ov[self._multi_iterations_index] = ov[self._multi_iterations_index] + 1
        results, mv = self._jax_update_metrics(mv, logs, weights)
        return results, (tv, ntv, ov, mv)

    def _model_mapping(self, tv, ntv):
        return list(zip(self.trainable_variables, tv)) + list(
            zip(self.non_trainable_variables, ntv)
        )

    def _jax_stateful(self, fn, tv, ntv):
        """Runs `fn` (which may assign variables); returns the new state."""
        with keras.StatelessScope(
            state_mapping=self._model_mapping(tv, ntv)
        ) as scope:
            result = fn()
        tv = [scope.get_current_value(v) for v in self.trainable_variables]
        ntv = [scope.get_current_value(v) for v in self.non_trainable_variables]
        return tv, ntv, result

    def _jax_begin_phase(self, plan, tv, ntv, ov):
        if plan.phase.reset_optimizer:
            for group in plan.groups:
                for j in group.reset_positions:
                    ov[j] = jnp.zeros_like(ov[j])

        def begin():
            self.method.on_phase_begin(plan.phase)
            return self.method.phase_repeats(plan.phase)

        tv, ntv, repeats = self._jax_stateful(begin, tv, ntv)
        return tv, ntv, ov, repeats

    def _jax_phase(self, plan, tv, ntv, ov):
        trainable_ids = {id(v) for v in self.trainable_variables}

        def loss_fn(sub, tv, ntv):
            full = _replaced(tv, plan.variable_positions, sub)
            with _StraightThroughScope(
                self._model_mapping(full, ntv), trainable_ids
            ) as scope:
                loss, logs = self.method.phase_loss(plan.phase, self.student)
            new_tv = [
                jax.lax.stop_gradient(scope.get_current_value(v))
                for v in self.trainable_variables
            ]
            new_ntv = [
                scope.get_current_value(v) for v in self.non_trainable_variables
            ]
            return loss, (logs, new_tv, new_ntv)

        sub = [tv[p] for p in plan.variable_positions]
        (_, (logs, tv, ntv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            sub, tv, ntv
        )
        ov = list(ov)
        for group in plan.groups:
            positions = [
                plan.variable_positions[i] for i in group.sub_positions
            ]
            new_vars, new_opt = group.optimizer.stateless_apply(
                [ov[j] for j in group.optimizer_positions],
                [grads[i] for i in group.sub_positions],
                [tv[p] for p in positions],
            )
            tv = _replaced(tv, positions, new_vars)
            ov = _replaced(ov, group.optimizer_positions, new_opt)
        return tv, ntv, ov, logs

    def _jax_phase_loop(self, plan, repeats, tv, ntv, ov):
        names = list(self.method.log_names)
        produced = []
        # Only the phase's optimizer slots are carried; all variables are,
        # since a loss may assign any of them (e.g. spectral normalization).
        ov_positions = [j for g in plan.groups for j in g.optimizer_positions]

        def body(i, carry):
            tv, ntv, sub_ov, logs = carry
            tv, ntv, full_ov, phase_logs = self._jax_phase(
                plan, tv, ntv, _replaced(ov, ov_positions, sub_ov)
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
            list(tv),
            ntv,
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
        tv, ntv, sub_ov, logs = carry
        return (
            tv,
            ntv,
            _replaced(ov, ov_positions, sub_ov),
            {n: logs[n] for n in produced},
        )

    def _jax_update_metrics(self, mv, logs, weights):
        with keras.StatelessScope(
            state_mapping=list(zip(self.metrics_variables, mv))
        ) as scope:
            for name, value in logs.items():
                if name in self.method.gauge_names:
                    self._trackers[name].reset_state()
                self._trackers[name].update_state(
                    value, sample_weight=weights[name]
                )
            results = {name: t.result() for name, t in self._trackers.items()}
        mv = [scope.get_current_value(v) for v in self.metrics_variables]
        return results, mv


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
    outer = stateless_scope.get_stateless_scope()

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
