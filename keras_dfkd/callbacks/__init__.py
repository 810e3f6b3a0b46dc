"""Callbacks for data-free distillation."""

from keras_dfkd.callbacks.backup_and_restore import BackupAndRestore
from keras_dfkd.callbacks.image_grid import ImageGrid
from keras_dfkd.callbacks.non_finite_guard import NonFiniteGuard
from keras_dfkd.callbacks.student_batch_norm_calibration import (
    StudentBatchNormCalibration,
)
from keras_dfkd.callbacks.student_evaluation import StudentEvaluation
from keras_dfkd.callbacks.student_evaluation import accuracy_statistics
from keras_dfkd.callbacks.student_evaluation import student_accuracy
from keras_dfkd.callbacks.student_progress import StudentProgress

__all__ = [
    "BackupAndRestore",
    "ImageGrid",
    "NonFiniteGuard",
    "StudentBatchNormCalibration",
    "StudentEvaluation",
    "StudentProgress",
    "accuracy_statistics",
    "student_accuracy",
]
