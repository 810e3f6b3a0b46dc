"""Quickstart: train a LeNet-5 teacher on real MNIST digits, save it, then
distil the saved teacher into LeNet-5-half without the training data.

    python examples/quickstart.py            # about 5 minutes on 2 CPU cores

Prints the teacher's and the student's accuracy on the real test split and
writes `teacher.keras`, `student.keras` and `synthetic.png` (a grid of
generated images) into `--output_dir`. With your own saved teacher, start
at step 2 and say where its training images lived (`input_range`).
"""

import os
import sys

import keras
from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


import keras_dfkd  # noqa: E402
from keras_dfkd import recipes  # noqa: E402

flags.DEFINE_string("output_dir", "quickstart_output", "Where files go.")
flags.DEFINE_integer("steps", 400, "Distillation rounds.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    # 1. A real teacher: LeNet-5 (with BN) trained on real MNIST digits,
    # standardised with the digits' mean and std, saved like yours.
    teacher, teacher_accuracy = recipes.train_teacher(
        "mnist", "lenet5", epochs=10, verbose=2
    )
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    teacher_path = os.path.join(FLAGS.output_dir, "teacher.keras")
    teacher.save(teacher_path)
    x_test, y_test = recipes.load_data("mnist", "test")

    # 2. Data-free distillation of the saved teacher: no training image is
    # used from here on. `input_range` says where the teacher's training
    # images lived: (0, 1), (-1, 1), (0, 255), or, as here, a per-channel
    # standardisation ((mean,), (std,)) of pixels in [0, 1].
    teacher = keras.saving.load_model(teacher_path)
    student = keras_dfkd.models.lenet5_half()
    method = keras_dfkd.methods.BNStatistics.from_preset(
        "bn_statistics_cpu", seed=0
    )
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student, method, input_range=((0.1307,), (0.3081,))
    )
    distiller.compile()
    distiller.fit(
        steps=FLAGS.steps,
        steps_per_epoch=FLAGS.steps // 4,
        callbacks=[
            keras_dfkd.callbacks.StudentEvaluation(x_test, y_test),
            # Kill it and run it again: it resumes at the last epoch,
            # with exactly the weights an uninterrupted run would have.
            keras_dfkd.callbacks.BackupAndRestore(
                os.path.join(FLAGS.output_dir, "backup")
            ),
        ],
    )

    # 3. Results on the real test split, and the files.
    student_accuracy = recipes.accuracy(distiller.student, x_test, y_test)
    distiller.student.save(os.path.join(FLAGS.output_dir, "student.keras"))
    keras_dfkd.utils.save_image_grid(
        distiller.generate(64),
        os.path.join(FLAGS.output_dir, "synthetic.png"),
        zoom=3,
    )
    print(f"teacher accuracy: {teacher_accuracy:.4f}")
    print(
        f"student accuracy: {student_accuracy:.4f} "
        f"({student_accuracy / teacher_accuracy:.1%} of the teacher)"
    )
    print(
        f"saved {FLAGS.output_dir}/teacher.keras, student.keras and "
        "synthetic.png"
    )


if __name__ == "__main__":
    app.run(main)
