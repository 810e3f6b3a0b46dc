"""`RoundTimer`: the wall-clock seconds of every distillation round."""

import time

import keras


class RoundTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every round (one `train_step` per batch).

    Not async-safe on purpose: Keras then hands the logs over as numbers,
    so on JAX's asynchronous dispatch too the round has finished when
    `on_train_batch_end` runs.
    """

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
