"""A wall-clock budget, its accuracy curve, and a fit that spends it."""

import math
import time
import warnings

import keras

import keras_dfkd
from keras_dfkd.backend import keras_shims
from keras_dfkd.optimizers import RunLengthCosineDecay


class BudgetCurve(keras.callbacks.Callback):
    """Stops after `budget` seconds of distillation; records the curve.

    Evaluates the student every `eval_seconds` of distillation; the clocks
    stop while it evaluates. Besides wall-clock seconds it records the
    process's CPU seconds, which a virtual machine's stolen CPU time does
    not inflate. With `budget_rounds` the budget is that many rounds
    instead, evaluated every `eval_rounds`: a run whose curve does not
    depend on the machine's speed or load (for A/B comparisons).
    """

    def __init__(
        self,
        budget,
        eval_seconds,
        x_test,
        y_test,
        images,
        budget_rounds=None,
        eval_rounds=None,
    ):
        super().__init__()
        self.budget = budget
        self.eval_seconds = eval_seconds
        self.budget_rounds = budget_rounds
        self.eval_rounds = eval_rounds
        self.x_test, self.y_test = x_test, y_test
        self.images_per_round = images  # f(rounds)
        self.distill_seconds = 0.0
        self.cpu_seconds = 0.0
        self.rounds = 0
        self.curve = []
        self.first_round_seconds = None
        # Seconds after which the fit stops early, the budget not spent.
        self.pause_at = None

    @property
    def done(self):
        """Whether the whole budget is spent."""
        if self.budget_rounds is not None:
            return self.rounds >= self.budget_rounds
        return self.distill_seconds >= self.budget

    def expected_rounds(self):
        """The rounds the whole budget will hold, at the pace so far.

        The first round (tracing and compiling) is left out of the pace,
        and is counted once more for the retrace that follows.
        """
        pace = (self.distill_seconds - self.first_round_seconds) / max(
            self.rounds - 1, 1
        )
        retrace = max(self.first_round_seconds - pace, 0.0)
        left = self.budget - self.distill_seconds - retrace
        return self.rounds + max(int(left / pace), 0)

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def on_train_batch_end(self, batch, logs=None):
        # Reading a log value waits for the round to finish.
        for value in (logs or {}).values():
            keras.ops.convert_to_numpy(value)
            break
        now = time.perf_counter()
        self.distill_seconds += now - self._start
        self.cpu_seconds += time.process_time() - self._cpu_start
        self.rounds += 1
        if self.first_round_seconds is None:
            self.first_round_seconds = self.distill_seconds
        done = self.done
        if done or self._evaluation_due():
            self._evaluate()
        pause = self.pause_at is not None and (
            self.distill_seconds >= self.pause_at and self.rounds >= 3
        )
        if done or pause:
            self.model.stop_training = True
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def _evaluation_due(self):
        if self.budget_rounds is not None:
            return self.rounds % self.eval_rounds == 0
        last = self.curve[-1]["seconds"] if self.curve else 0.0
        return self.distill_seconds - last >= self.eval_seconds

    def _evaluate(self):
        accuracy = keras_dfkd.callbacks.student_accuracy(
            self.model.student, self.x_test, self.y_test
        )
        self.curve.append(
            {
                "seconds": round(self.distill_seconds, 2),
                "cpu_seconds": round(self.cpu_seconds, 2),
                "rounds": self.rounds,
                "images": self.images_per_round(self.rounds),
                "student_accuracy": accuracy,
            }
        )
        print(
            f"[{self.distill_seconds:7.1f}s] rounds {self.rounds:6d} "
            f"student accuracy {accuracy:.4f}",
            flush=True,
        )


def fit_within_budget(
    distiller, budget, steps_per_epoch, callbacks=(), calibration=0.05
):
    """Fits until `budget` (a `BudgetCurve`) is spent.

    A run-length schedule (a method's `decay_rounds="fit"`) spans the
    rounds of a fit, but a budgeted run's length is its seconds. So the
    first `calibration` of the budget trains at the schedule's initial
    rate; the schedule is then set to end at the round the measured pace
    puts at the end of the budget (the rounds with student steps, of
    `student_steps` optimizer steps each), and the fit goes on, traced
    anew. Other schedules run as they are. A round budget is one fit of
    that many rounds, which a run-length schedule spans.
    """
    callbacks = [*callbacks, budget]
    if budget.budget_rounds is not None:
        distiller.fit(
            steps=budget.budget_rounds,
            steps_per_epoch=math.gcd(budget.budget_rounds, steps_per_epoch),
            callbacks=callbacks,
            verbose=0,
        )
        return

    def fit():
        with warnings.catch_warnings():
            # Open-ended fits go past the schedule's end; the budget stops
            # them at about that round.
            warnings.filterwarnings("ignore", "The student's learning rate")
            distiller.fit(
                epochs=10**6,
                steps_per_epoch=steps_per_epoch,
                callbacks=callbacks,
                verbose=0,
            )

    schedule = keras_shims.learning_rate_schedule(
        distiller.optimizers.get("student")
    )
    if isinstance(schedule, RunLengthCosineDecay) and (
        schedule.decay_steps is None
    ):
        # The rate stays at its start until the length is known.
        schedule.decay_steps = 2**31 - 1
        budget.pause_at = calibration * budget.budget
        fit()
        budget.pause_at = None
        method = distiller.method
        student_rounds = max(
            budget.expected_rounds() - method.first_student_round, 1
        )
        schedule.decay_steps = student_rounds * getattr(
            method, "student_steps", 1
        )
        distiller.train_function = None
    if not budget.done:
        fit()
