"""TensorFlow gradient and update plumbing of `DataFreeDistiller.train_step`.

TensorFlow runs the step statefully inside `tf.function`: one gradient tape
per phase, and each group's optimizer from the `MultiOptimizer` applies
its slice of the gradients.
"""

import tensorflow as tf


class TensorFlowDistillerStep:
    """Mixin providing the TensorFlow `train_step(data)`."""

    def train_step(self, data):
        del data  # Data-free: the dummy batch only counts rounds.
        logs = {}
        for plan in self._phase_plans:
            variables = [
                self.trainable_variables[p] for p in plan.variable_positions
            ]
            for _ in range(plan.phase.repeats):
                with tf.GradientTape() as tape:
                    loss, phase_logs = self.method.phase_loss(
                        plan.phase, self.student
                    )
                grads = tape.gradient(loss, variables)
                for group in plan.groups:
                    group.optimizer.apply(
                        [grads[i] for i in group.sub_positions],
                        [variables[i] for i in group.sub_positions],
                    )
                logs.update(phase_logs)
        self.method.after_round()
        self.optimizer.iterations.assign_add(1)
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: t.result() for name, t in self._trackers.items()}
