"""Train a teacher with the project's recipe and save it.

    python examples/train_teacher.py --dataset=mnist --architecture=lenet5 \
        --epochs=10 --output=teachers/lenet5_mnist.keras
"""

import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from keras_dfkd import recipes  # noqa: E402

flags.DEFINE_string("dataset", "mnist", "mnist, fashion_mnist, cifar10, ...")
flags.DEFINE_string("architecture", "lenet5", "See keras_dfkd.models.get.")
flags.DEFINE_integer("epochs", 10, "Training epochs.")
flags.DEFINE_integer("batch_size", 256, "Batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("image_size", 32, "Images are resized to this size.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("output", "teacher.keras", "Where to save the teacher.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    model, test_accuracy = recipes.train_teacher(
        FLAGS.dataset,
        FLAGS.architecture,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        image_size=FLAGS.image_size,
        seed=FLAGS.seed,
    )
    directory = os.path.dirname(os.path.abspath(FLAGS.output))
    os.makedirs(directory, exist_ok=True)
    model.save(FLAGS.output)
    print(f"test accuracy {test_accuracy:.4f}; saved {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
