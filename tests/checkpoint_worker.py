"""A distillation that SIGKILLs itself, for `test_checkpoints.py`.

    python tests/checkpoint_worker.py MODE BACKUP_DIR OUT.npz

MODE is `reference` (an uninterrupted run), `kill_mid_epoch` (dies in
epoch 2), `kill_during_save` (dies half-way through writing epoch 2's
checkpoint) or `resume` (resumes from BACKUP_DIR). The final state goes to
OUT.npz. BNStatistics (augmentation seeds, EMA statistics, two optimizers)
keeps the processes cheap.
"""

import os
import signal
import sys

import keras
import numpy as np

from keras_dfkd.callbacks import BackupAndRestore
from keras_dfkd.testing import distiller_state
from keras_dfkd.testing import tiny_distiller


class KillMidEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 2 and batch == 0:
            os.kill(os.getpid(), signal.SIGKILL)


def kill_during_second_save():
    """Lets epoch 1's checkpoint complete, then dies in epoch 2's, after
    the new weights file is half written and before anything is renamed."""
    real_save = keras.Model.save_weights

    def save_weights(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        if "000002" in path:
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    keras.Model.save_weights = save_weights


def main(mode, backup, out):
    if mode == "kill_during_save":
        kill_during_second_save()
    distiller = tiny_distiller("bn_statistics")
    distiller.compile()
    callbacks = [] if mode == "reference" else [BackupAndRestore(backup)]
    if mode == "kill_mid_epoch":
        callbacks.append(KillMidEpoch())
    distiller.fit(steps=8, steps_per_epoch=2, verbose=0, callbacks=callbacks)
    np.savez(out, **distiller_state(distiller))


if __name__ == "__main__":
    main(*sys.argv[1:4])
