"""Crash-safe checkpoints and exact resume of an interrupted run."""

import json
import os
import shutil

import keras

from keras_dfkd.api_export import keras_dfkd_export

#: The pointer file naming the latest complete checkpoint.
POINTER = "checkpoint.json"


@keras_dfkd_export("keras_dfkd.callbacks.BackupAndRestore")
class BackupAndRestore(keras.callbacks.Callback):
    """Checkpoints every epoch atomically; resumes where a run stopped.

    Keras's `BackupAndRestore` overwrites its weights file in place and
    writes the epoch number to a second file afterwards, so a kill during
    a save can leave a truncated file, or new weights next to an old epoch
    number (the resumed run then repeats an epoch from advanced weights).
    This callback writes each checkpoint to a new file, renames it into
    place, and only then atomically replaces a small pointer file naming
    it; a kill at any moment leaves the previous complete checkpoint. The
    checkpoint holds everything `fit` changes (networks, every optimizer's
    slots, method state such as image pools, round counters and the
    `SeedGenerator` states), so a resumed run finishes with the same
    weights as an uninterrupted one.

    A checkpoint that exists but cannot be read raises an error naming the
    file: never a silent fresh start.

    ```
    on_epoch_end(e):  save_weights(dir/.epoch_e.weights.h5)  -> rename to
                      dir/epoch_e.weights.h5 -> write + rename
                      dir/checkpoint.json {"epoch": e + 1, ...}
                      -> delete older checkpoints
    on_train_begin:   read checkpoint.json -> load its weights ->
                      continue at its epoch
    ```

    Args:
        backup_dir: str. Directory of the checkpoints; created if needed.
            Run the same command again to resume.
        delete_checkpoint: bool. Delete the directory when `fit` finishes
            normally. Defaults to `True`.

    Example:

    ```python
    distiller.fit(
        steps=10_000, steps_per_epoch=100,
        callbacks=[keras_dfkd.callbacks.BackupAndRestore("runs/backup")])
    # Killed? The same call resumes from the last finished epoch.
    ```
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__()
        if not isinstance(backup_dir, (str, os.PathLike)) or not str(
            backup_dir
        ):
            raise ValueError(
                "`backup_dir` must be a directory path; received "
                f"{backup_dir!r}."
            )
        self.backup_dir = str(backup_dir)
        self.delete_checkpoint = delete_checkpoint
        self._pointer = os.path.join(self.backup_dir, POINTER)

    def on_train_begin(self, logs=None):
        try:
            os.makedirs(self.backup_dir, exist_ok=True)
            probe = os.path.join(self.backup_dir, ".write_test")
            with open(probe, "w") as f:
                f.write("ok")
            os.remove(probe)
        except OSError as error:
            raise OSError(
                f"Cannot write checkpoints to {self.backup_dir!r} "
                f"({error.strerror or error}). Choose a writable "
                "`backup_dir` before starting a long run."
            ) from error
        latest = self._read_pointer()
        if latest is None:
            return
        path = os.path.join(self.backup_dir, latest["weights"])
        try:
            self.model.load_weights(path)
        except Exception as error:
            raise ValueError(
                f"The checkpoint {path!r} (epoch {latest['epoch']}) exists "
                f"but cannot be loaded: {error}. It is corrupt or truncated, "
                "or comes from a differently configured model. Delete "
                f"{self.backup_dir!r} to start afresh, or restore the file."
            ) from error
        self.model._initial_epoch = latest["epoch"]

    def _read_pointer(self):
        if not os.path.exists(self._pointer):
            return None
        try:
            with open(self._pointer) as f:
                latest = json.load(f)
            latest["epoch"] = int(latest["epoch"])
            str(latest["weights"])
        except (ValueError, KeyError, TypeError, OSError) as error:
            raise ValueError(
                f"The checkpoint pointer {self._pointer!r} is unreadable "
                f"({error}). Delete {self.backup_dir!r} to start afresh."
            ) from error
        return latest

    def on_epoch_end(self, epoch, logs=None):
        name = f"epoch_{epoch + 1:06d}.weights.h5"
        final = os.path.join(self.backup_dir, name)
        partial = os.path.join(self.backup_dir, "." + name)
        self.model.save_weights(partial, overwrite=True)
        os.replace(partial, final)
        _write_atomically(
            self._pointer, json.dumps({"epoch": epoch + 1, "weights": name})
        )
        for other in os.listdir(self.backup_dir):
            if other.endswith(".weights.h5") and other != name:
                os.remove(os.path.join(self.backup_dir, other))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and not self.model.stop_training:
            shutil.rmtree(self.backup_dir, ignore_errors=True)


def _write_atomically(path, text):
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
