"""Distil a teacher with NAYER (label-text embeddings + noisy layer).

Trains the project's teacher recipe on the real training split (or loads
it from the cache), embeds "a photo of a {class}" for each class name with
a keras-hub text encoder (offline default: all-MiniLM-L6-v2), distils
data-free, and reports the student's accuracy on the real test split.

    python examples/nayer.py --dataset=mnist --steps=600
    python examples/nayer.py --dataset=fashion_mnist \
        --text_encoder=clip_vit_base_patch32   # NAYER's encoder (downloads)
    python examples/nayer.py --one_hot         # ablation: no text

Interrupt it and run the same command again: `BackupAndRestore` resumes
from the last finished epoch, image pool included.
"""

import json
import os
import sys

from absl import app
from absl import flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras_dfkd  # noqa: E402
from keras_dfkd import recipes  # noqa: E402

recipes.define_pair_flags()
flags.DEFINE_string(
    "text_encoder", "all_minilm_l6_v2", "keras-hub preset or directory."
)
flags.DEFINE_string("prompt_template", "a photo of a {}", "Class prompt.")
flags.DEFINE_bool("one_hot", False, "One-hot labels instead of text.")
flags.DEFINE_integer("steps", 600, "Rounds (synthesis batches).")
flags.DEFINE_integer("steps_per_epoch", 50, "Rounds per epoch/checkpoint.")
flags.DEFINE_string(
    "preset", "nayer_lenet_cpu", "NAYER's settings (keras_dfkd/presets.py)."
)
flags.DEFINE_string(
    "method_kwargs", "{}", "JSON dict of NAYER arguments over the preset."
)
flags.DEFINE_string("output_dir", "runs/nayer", "Where outputs go.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    pair = recipes.pair_from_flags()
    student, x_test, y_test = pair["student"], pair["x_test"], pair["y_test"]
    kwargs = recipes.dataset_method_arguments("nayer", FLAGS.dataset)
    kwargs.update(
        label_embeddings="one_hot" if FLAGS.one_hot else None,
        text_encoder=FLAGS.text_encoder,
        prompt_template=FLAGS.prompt_template,
        # The student's rate decays over the whole run.
        decay_rounds="fit",
        seed=FLAGS.seed,
    )
    kwargs.update(json.loads(FLAGS.method_kwargs))
    method = keras_dfkd.methods.NAYER.from_preset(FLAGS.preset, **kwargs)
    distiller = keras_dfkd.DataFreeDistiller(
        pair["teacher"],
        student,
        method,
        input_range=recipes.recipe_input_range(FLAGS.dataset),
    )
    distiller.compile()
    distiller.fit(
        steps=FLAGS.steps,
        steps_per_epoch=FLAGS.steps_per_epoch,
        callbacks=recipes.run_callbacks(
            FLAGS.output_dir, x_test, y_test, num_images=100
        ),
        verbose=2,
    )
    accuracy = keras_dfkd.callbacks.student_accuracy(student, x_test, y_test)
    path = os.path.join(FLAGS.output_dir, "student.keras")
    student.save(path)
    teacher_accuracy = pair["teacher_accuracy"]
    print(
        f"teacher {teacher_accuracy:.4f}, student {accuracy:.4f} "
        f"({accuracy / teacher_accuracy:.1%} of the teacher); pool "
        f"{method.pool.memory_bytes / 2**20:.1f} MB; saved {path}"
    )


if __name__ == "__main__":
    app.run(main)
