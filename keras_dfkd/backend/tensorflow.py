"""TensorFlow gradient and update plumbing of `DataFreeDistiller.train_step`.

TensorFlow runs the step statefully inside `tf.function`: one gradient tape
per phase step, and each group's optimizer from the `MultiOptimizer`
applies its slice of the gradients. Repeated phases run in a
`tf.while_loop`, so tracing time does not grow with the number of steps.
"""

import tensorflow as tf


class TensorFlowDistillerStep:
    """Mixin providing the TensorFlow `train_step(data)`."""

    def train_step(self, data):
        del data  # Data-free: the dummy batch only counts rounds.
        logs, weights = {}, {}
        for plan in self._phase_plans:
            self._tf_begin_phase(plan)
            repeats = self.method.phase_repeats(plan.phase)
            if isinstance(repeats, int) and repeats == 1:
                phase_logs = self._tf_phase_step(plan)
                weight = 1.0
            else:
                phase_logs = self._tf_phase_loop(plan, repeats)
                weight = tf.cast(tf.minimum(repeats, 1), "float32")
            end_logs = self.method.on_phase_end(plan.phase) or {}
            for name, value in phase_logs.items():
                logs[name], weights[name] = value, weight
            for name, value in end_logs.items():
                logs[name], weights[name] = value, 1.0
        self.method.after_round()
        self.optimizer.iterations.assign_add(1)
        for name, value in logs.items():
            if name in self.method.gauge_names:
                self._trackers[name].reset_state()
            self._trackers[name].update_state(
                value, sample_weight=weights[name]
            )
        return {name: t.result() for name, t in self._trackers.items()}

    def _tf_begin_phase(self, plan):
        if plan.phase.reset_optimizer:
            for group in plan.groups:
                for j in group.reset_positions:
                    variable = self.optimizer.variables[j]
                    variable.assign(tf.zeros_like(variable))
        self.method.on_phase_begin(plan.phase)

    def _tf_phase_step(self, plan):
        variables = [
            self.trainable_variables[p] for p in plan.variable_positions
        ]
        with tf.GradientTape() as tape:
            loss, phase_logs = self.method.phase_loss(plan.phase, self.student)
        grads = tape.gradient(loss, variables)
        for group in plan.groups:
            group.optimizer.apply(
                [grads[i] for i in group.sub_positions],
                [variables[i] for i in group.sub_positions],
            )
        return phase_logs

    def _tf_phase_loop(self, plan, repeats):
        names = list(self.method.log_names)
        produced = []

        def body(i, carry):
            phase_logs = self._tf_phase_step(plan)
            produced[:] = list(phase_logs)
            new = {n: tf.cast(phase_logs[n], "float32") for n in phase_logs}
            return i + 1, {n: new.get(n, carry[n]) for n in names}

        _, carry = tf.while_loop(
            lambda i, carry: i < repeats,
            body,
            (tf.constant(0), {n: tf.zeros((), "float32") for n in names}),
            parallel_iterations=1,
        )
        return {n: carry[n] for n in produced}


def input_gradient(fn, x):
    """Returns `(fn(x), d fn(x) / dx)` for a scalar-valued `fn` of a tensor.

    Layer state that `fn` updates (e.g. BatchNormalization statistics) is
    kept, as it is on JAX.
    """
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    return value, tape.gradient(value, x)
