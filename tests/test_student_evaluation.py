"""StudentEvaluation and the robustness statistics of a run."""

import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.callbacks import accuracy_statistics
from keras_dfkd.testing import tiny_distiller


def test_accuracy_statistics_match_numpy():
    accuracies = [0.5, 0.7, 0.6, 0.65, 0.4, 0.45]
    stats = accuracy_statistics(accuracies)
    assert stats["accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert stats["accuracy_variance"] == pytest.approx(np.var(accuracies))
    assert stats["largest_drop"] == pytest.approx(0.25)  # 0.65 -> 0.4


def test_accuracy_statistics_edge_cases():
    assert accuracy_statistics([]) == {}
    assert accuracy_statistics([0.3])["largest_drop"] == 0.0
    rising = accuracy_statistics([0.1, 0.2, 0.9])
    assert rising["largest_drop"] == 0.0


def test_records_every_n_epochs_without_changing_the_student():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16, 16, 1)).astype("float32")
    y = rng.integers(0, 10, size=40)
    distiller = tiny_distiller("bn_statistics")
    distiller.compile()
    evaluation = keras_dfkd.callbacks.StudentEvaluation(
        x, y, every_n_epochs=2, batch_size=16
    )
    history = distiller.fit(
        steps=4, steps_per_epoch=1, verbose=0, callbacks=[evaluation]
    )
    assert [r["epoch"] for r in evaluation.records] == [2, 4]
    final = keras_dfkd.callbacks.student_accuracy(distiller.student, x, y)
    assert evaluation.records[-1]["student_accuracy"] == final
    assert history.history["student_accuracy"] == [
        r["student_accuracy"] for r in evaluation.records
    ]
    assert evaluation.records[0]["seconds"] <= evaluation.records[1]["seconds"]


def test_bad_evaluation_data():
    with pytest.raises(ValueError, match="non-empty and of equal length"):
        keras_dfkd.callbacks.StudentEvaluation(np.zeros((3, 16, 16, 1)), [1])
