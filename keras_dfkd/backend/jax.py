"""JAX gradient and update plumbing of `DataFreeDistiller.train_step`.

The JAX trainer passes the whole model state explicitly and jit-compiles a
pure step, so every variable the shared `keras.ops` math touches is mapped
through a `StatelessScope`, and each group's optimizer is applied with
`stateless_apply` on its own slice of `model.optimizer.variables` (the
`MultiOptimizer`): a second optimizer outside that state would silently
never update.
"""

import jax
import keras


class JAXDistillerStep:
    """Mixin providing the JAX `train_step(state, data)`."""

    def train_step(self, state, data):
        del data  # Data-free: the dummy batch only counts rounds.
        tv, ntv, ov, mv = (list(part) for part in state)
        logs = {}
        for plan in self._phase_plans:
            for _ in range(plan.phase.repeats):
                tv, ntv, ov, phase_logs = self._jax_phase(plan, tv, ntv, ov)
                logs.update(phase_logs)
        ntv = self._jax_after_round(tv, ntv)
        ov[self._multi_iterations_index] = ov[self._multi_iterations_index] + 1
        results, mv = self._jax_update_metrics(mv, logs)
        return results, (tv, ntv, ov, mv)

    def _model_mapping(self, tv, ntv):
        return list(zip(self.trainable_variables, tv)) + list(
            zip(self.non_trainable_variables, ntv)
        )

    def _jax_phase(self, plan, tv, ntv, ov):
        def loss_fn(sub, tv, ntv):
            full = list(tv)
            for position, value in zip(plan.variable_positions, sub):
                full[position] = value
            with keras.StatelessScope(
                state_mapping=self._model_mapping(full, ntv)
            ) as scope:
                loss, logs = self.method.phase_loss(plan.phase, self.student)
            new_ntv = [
                scope.get_current_value(v) for v in self.non_trainable_variables
            ]
            return loss, (logs, new_ntv)

        sub = [tv[p] for p in plan.variable_positions]
        (_, (logs, ntv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            sub, tv, ntv
        )
        for group in plan.groups:
            group_vars = [sub[i] for i in group.sub_positions]
            group_grads = [grads[i] for i in group.sub_positions]
            new_vars, new_opt = group.optimizer.stateless_apply(
                [ov[j] for j in group.optimizer_positions],
                group_grads,
                group_vars,
            )
            for i, value in zip(group.sub_positions, new_vars):
                tv[plan.variable_positions[i]] = value
            for j, value in zip(group.optimizer_positions, new_opt):
                ov[j] = value
        return tv, ntv, ov, logs

    def _jax_after_round(self, tv, ntv):
        with keras.StatelessScope(
            state_mapping=self._model_mapping(tv, ntv)
        ) as scope:
            self.method.after_round()
        return [
            scope.get_current_value(v) for v in self.non_trainable_variables
        ]

    def _jax_update_metrics(self, mv, logs):
        with keras.StatelessScope(
            state_mapping=list(zip(self.metrics_variables, mv))
        ) as scope:
            for name, value in logs.items():
                self._trackers[name].update_state(value)
            results = {name: t.result() for name, t in self._trackers.items()}
        mv = [scope.get_current_value(v) for v in self.metrics_variables]
        return results, mv
