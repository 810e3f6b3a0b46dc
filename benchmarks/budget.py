"""`BudgetCurve`: a wall-clock budget and an accuracy curve for benchmarks."""

import time

import keras

import keras_dfkd


class BudgetCurve(keras.callbacks.Callback):
    """Stops after `budget` seconds of distillation; records the curve.

    Evaluates the student every `eval_seconds` of distillation; the clocks
    stop while it evaluates. Besides wall-clock seconds it records the
    process's CPU seconds, which a virtual machine's stolen CPU time does
    not inflate.
    """

    def __init__(self, budget, eval_seconds, x_test, y_test, images):
        super().__init__()
        self.budget = budget
        self.eval_seconds = eval_seconds
        self.x_test, self.y_test = x_test, y_test
        self.images_per_round = images  # f(rounds)
        self.distill_seconds = 0.0
        self.cpu_seconds = 0.0
        self.rounds = 0
        self.curve = []

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
        last = self.curve[-1]["seconds"] if self.curve else 0.0
        done = self.distill_seconds >= self.budget
        if done or self.distill_seconds - last >= self.eval_seconds:
            self._evaluate()
        if done:
            self.model.stop_training = True
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

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
