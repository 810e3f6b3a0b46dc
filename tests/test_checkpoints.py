"""Checkpoints: exact resume for every method, SIGKILL, atomic writes."""

import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import slow

from keras_dfkd.callbacks import BackupAndRestore
from keras_dfkd.testing import assert_same_state
from keras_dfkd.testing import distiller_state
from keras_dfkd.testing import tiny_distiller

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_distiller(method_name):
    if method_name == "large_scale":
        # Stage 1 for a round, then stage 2, inside the three rounds.
        return tiny_distiller(
            "large_scale", generator_rounds=1, joint=False, seed=1
        )
    return tiny_distiller(method_name)


class Crash(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


METHODS = [
    "dafl",
    "dfad",
    "bn_statistics",
    "large_scale",
    "nayer",
    "pre_dfkd",
    "deep_inversion",
    "cmi",
    "fast",
]


@pytest.mark.parametrize("method_name", METHODS)
def test_resume_after_a_crash_equals_an_uninterrupted_run(
    method_name, tmp_path
):
    fit = dict(steps=3, steps_per_epoch=1, verbose=0)
    reference = make_distiller(method_name)
    reference.compile()
    reference.fit(**fit)

    crashed = make_distiller(method_name)
    crashed.compile()
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(callbacks=[BackupAndRestore(backup), Crash(1)], **fit)
    # A fresh process would build everything anew: so does the test.
    resumed = make_distiller(method_name)
    resumed.compile()
    history = resumed.fit(callbacks=[BackupAndRestore(backup)], **fit)
    assert len(history.epoch) == 1  # Epochs 1-2 came from the checkpoint.
    assert_same_state(distiller_state(resumed), distiller_state(reference))
    assert not os.path.exists(backup)  # Deleted after a complete fit.


def test_corrupt_and_truncated_checkpoints_fail_loudly(tmp_path):
    backup = str(tmp_path / "backup")
    distiller = make_distiller("dfad")
    distiller.compile()
    with pytest.raises(RuntimeError):
        distiller.fit(
            steps=2,
            steps_per_epoch=1,
            verbose=0,
            callbacks=[BackupAndRestore(backup), Crash(0)],
        )
    (weights,) = [p for p in os.listdir(backup) if p.endswith(".weights.h5")]
    path = os.path.join(backup, weights)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    resumed = make_distiller("dfad")
    resumed.compile()
    with pytest.raises(ValueError, match="corrupt or truncated"):
        resumed.fit(steps=2, verbose=0, callbacks=[BackupAndRestore(backup)])
    with open(os.path.join(backup, "checkpoint.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(ValueError, match="pointer .* is unreadable"):
        resumed.fit(steps=2, verbose=0, callbacks=[BackupAndRestore(backup)])


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root can write to read-only directories",
)
def test_unwritable_backup_dir(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    distiller = make_distiller("dfad")
    distiller.compile()
    with pytest.raises(OSError, match="Cannot write checkpoints"):
        distiller.fit(
            steps=1,
            verbose=0,
            callbacks=[BackupAndRestore(str(locked / "backup"))],
        )


def test_unwritable_backup_dir_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    distiller = make_distiller("dfad")
    distiller.compile()
    with pytest.raises(OSError, match="Cannot write checkpoints"):
        distiller.fit(
            steps=1,
            verbose=0,
            callbacks=[BackupAndRestore(str(blocker / "backup"))],
        )


# A real kill: `checkpoint_worker.py` runs a distillation and, in the
# chosen mode, SIGKILLs itself mid-epoch or in the middle of writing a
# checkpoint; every method's state is covered by the in-process test above.
WORKER = os.path.join(REPO, "tests", "checkpoint_worker.py")


def run_worker(mode, backup, out):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (REPO, env.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, WORKER, mode, backup, out],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The state after an uninterrupted run in its own process."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    path = str(folder / "reference.npz")
    done = run_worker("reference", str(folder / "backup"), path)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(path))


@slow
@pytest.mark.parametrize("mode", ["kill_mid_epoch", "kill_during_save"])
def test_sigkill_then_resume_gives_the_uninterrupted_weights(
    mode, tmp_path, uninterrupted
):
    backup = str(tmp_path / "backup")
    killed = run_worker(mode, backup, str(tmp_path / "unused.npz"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # The kill left a complete checkpoint of epoch 1 or 2 behind.
    assert os.path.exists(os.path.join(backup, "checkpoint.json"))
    resumed = run_worker("resume", backup, str(tmp_path / "resumed.npz"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_state(dict(np.load(tmp_path / "resumed.npz")), uninterrupted)
