"""`RoundLoop`: one round of a method's phases, written once for all backends.

`DataFreeDistiller.train_step` is one round. The round itself (phase
order, optimizer resets, the `when`/`begin`/`end` hooks, log weights,
gauges, the round count) is backend-neutral and lives here, like Keras's
`trainers/trainer.py`. A backend (`keras_dfkd/backend/<name>.py`) only
says how to run code that may assign variables, how to take one gradient
step of a phase, and how to repeat one, through a round state object:

```
state.run(key, fn, *args)  # fn(*args) with the model's current variables
state.count(n)             # a step count as the backend loops over it
state.step(plan)           # one gradient step of plan.phase; its logs
state.loop(plan, n)        # n steps (n: int or scalar tensor); last logs
```

`key` names the hook, the same in every round, and `args` are tensors:
a backend that compiles each piece of the round on its own (JAX on CPU)
compiles `fn` once per key and feeds it this round's `args`.
"""

import collections

from keras import ops

PhasePlan = collections.namedtuple(
    "PhasePlan", ["phase", "variable_positions", "groups"]
)
PhasePlan.__doc__ = """A `Phase` resolved against the compiled distiller.

`variable_positions` index the distiller's `trainable_variables` (group
by group); `groups` is a list of `GroupPlan`.
"""

GroupPlan = collections.namedtuple(
    "GroupPlan",
    [
        "name",
        "optimizer",
        "sub_positions",
        "optimizer_positions",
        # Positions in the MultiOptimizer's variables of the slots and
        # iteration count (not the learning rate) that a
        # `Phase(reset_optimizer=True)` zeroes. Positions, not variables:
        # the model would track variables held here as its own.
        "reset_positions",
    ],
)
GroupPlan.__doc__ = """One variable group of a phase and its optimizer.

`sub_positions` index the phase's variables, `optimizer_positions` the
`MultiOptimizer`'s variables that belong to the group's optimizer.
"""


class RoundLoop:
    """Mixin of `DataFreeDistiller`: plans the phases and runs a round."""

    def plan_phases(self, groups):
        """Resolves the method's phases against the compiled optimizers.

        Args:
            groups: dict `{group: variables}` of the method.

        Returns:
            A list of `PhasePlan`, one per phase in round order.
        """
        variable_index = {
            id(v): i for i, v in enumerate(self.trainable_variables)
        }
        optimizer_index = {
            id(v): i for i, v in enumerate(self.optimizer.variables)
        }
        plans = []
        for phase in self.method.phases:
            positions, group_plans = [], []
            for name in phase.groups:
                if name not in groups:
                    raise ValueError(
                        f"Phase {phase.name!r} trains unknown group {name!r}; "
                        f"the method's groups are {sorted(groups)}."
                    )
                # The optimizer was built on its variables in model order.
                own = sorted(variable_index[id(v)] for v in groups[name])
                start = len(positions)
                positions.extend(own)
                optimizer = self.optimizers[name]
                group_plans.append(
                    GroupPlan(
                        name,
                        optimizer,
                        list(range(start, start + len(own))),
                        [optimizer_index[id(v)] for v in optimizer.variables],
                        [
                            optimizer_index[id(v)]
                            for v in _resettable_variables(optimizer)
                        ],
                    )
                )
            plans.append(PhasePlan(phase, positions, group_plans))
        return plans

    def run_round(self, state):
        """Runs one round of the method's phases through `state`.

        Args:
            state: the backend's round state (see the module docstring).

        Returns:
            The dict of logged metric results.
        """
        method = self.method
        logs, weights = {}, {}
        for index, plan in enumerate(self._phase_plans):
            phase = plan.phase
            repeats = state.count(
                state.run(("begin", index), lambda: self._begin_phase(plan))
            )
            if isinstance(repeats, int) and repeats == 0:
                continue
            if isinstance(repeats, int):
                phase_logs = (
                    state.step(plan)
                    if repeats == 1
                    else state.loop(plan, repeats)
                )
                weight = 1.0
            else:
                phase_logs = state.loop(plan, repeats)
                # A phase skipped this round leaves its running means alone.
                weight = ops.cast(ops.minimum(repeats, 1), "float32")
            end_logs = {}
            if phase.end is not None:
                end_logs = state.run(("end", index), phase.end) or {}
            for name, value in phase_logs.items():
                logs[name], weights[name] = value, weight
            for name, value in end_logs.items():
                logs[name], weights[name] = value, 1.0
        state.run("after_round", method.after_round)
        if "student_loss" in logs:
            # `loss` is the student's loss, read by Keras callbacks.
            logs["loss"] = logs["student_loss"]
            weights["loss"] = weights["student_loss"]
        return state.run("end_round", self._end_round, logs, weights)

    def _begin_phase(self, plan):
        """Resets, `begin()`s and returns the phase's step count."""
        phase = plan.phase
        reset = phase.reset_optimizer
        if reset:
            for group in plan.groups:
                if reset is not True and group.name not in reset:
                    continue
                for j in group.reset_positions:
                    variable = self.optimizer.variables[j]
                    variable.assign(ops.zeros(variable.shape, variable.dtype))
        if phase.begin is not None:
            phase.begin()
        if phase.when is None:
            return phase.repeats
        active = phase.when()
        if isinstance(active, bool):
            return phase.repeats if active else 0
        return ops.where(active, phase.repeats, 0)

    def _end_round(self, logs, weights):
        self.optimizer.iterations.assign_add(1)
        # Read once: `gauge_names` builds the method's phase list.
        gauges = set(self.method.gauge_names)
        for name, value in logs.items():
            if name in gauges:
                self._trackers[name].reset_state()
            self._trackers[name].update_state(
                value, sample_weight=weights[name]
            )
        return {name: t.result() for name, t in self._trackers.items()}


def _resettable_variables(optimizer):
    """An optimizer's slots and iteration count, without its learning rate.

    A constant learning rate is a variable named `learning_rate`; a
    schedule is computed from the iteration count and has none.
    """
    return [v for v in optimizer.variables if v.name != "learning_rate"]
