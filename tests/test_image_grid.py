"""Image grids for looking at synthetic data."""

import os

import numpy as np
import pytest
from PIL import Image

from keras_dfkd.utils import image_grid
from keras_dfkd.utils import save_image_grid


def test_grid_layout_and_scaling():
    images = np.stack([np.full((4, 4, 1), v, "float32") for v in range(5)])
    images[:, 0, 0, 0] = -3.0  # every image min-max scaled on its own
    grid = image_grid(images, columns=3)
    assert grid.dtype == np.uint8
    assert grid.shape == (2 * 6 + 2, 3 * 6 + 2, 1)
    first = grid[2:6, 2:6, 0]
    assert first[0, 0] == 0 and first[1, 1] == 255


def test_save_with_zoom(tmp_path):
    path = save_image_grid(
        np.random.default_rng(0).random((4, 8, 8, 3)),
        str(tmp_path / "sub" / "grid.png"),
        zoom=2,
    )
    assert Image.open(path).size == (2 * 22, 2 * 22)
    with pytest.raises(ValueError, match="zoom"):
        save_image_grid(np.zeros((1, 4, 4, 1)), str(tmp_path / "x.png"), zoom=0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        image_grid(np.zeros((4, 4)))


def test_labelled_grid_has_captions():
    from keras_dfkd.utils import labelled_image_grid

    images = np.random.default_rng(0).random((5, 8, 8, 1))
    grid = labelled_image_grid(images, [f"{k} 90%" for k in range(5)], zoom=2)
    assert grid.dtype == np.uint8 and grid.shape[-1] == 3
    # Two rows of 2x(8 + 4)-px cells, each with a caption strip under it.
    assert grid.shape[0] == 2 * (2 * 12 + 12)
    caption = grid[2 * 12 : 2 * 12 + 12]
    assert (caption < 128).any()  # Text was drawn.
    with pytest.raises(ValueError, match="2 labels for 5 images"):
        labelled_image_grid(images, ["a", "b"])


def _event_tags(directory):
    import tensorflow as tf

    tags = set()
    for root, _, files in os.walk(directory):
        for name in files:
            if "tfevents" not in name:
                continue
            for event in tf.compat.v1.train.summary_iterator(
                os.path.join(root, name)
            ):
                tags.update(value.tag for value in event.summary.value)
    return tags


def test_image_grid_callback_is_fixed_labelled_and_leaves_the_run_alone(
    tmp_path,
):
    import keras

    import keras_dfkd
    from keras_dfkd.testing import tiny_distiller

    runs = []
    for callbacks in ([], ["grid"]):
        distiller = tiny_distiller("bn_statistics")
        distiller.compile()
        grid = keras_dfkd.callbacks.ImageGrid(
            str(tmp_path / "grids"),
            num_images=6,
            class_names=[f"c{k}" for k in range(10)],
            tensorboard_dir=str(tmp_path / "logs"),
        )
        chosen = [grid, keras.callbacks.TensorBoard(str(tmp_path / "logs"))]
        distiller.fit(
            steps=2,
            steps_per_epoch=1,
            verbose=0,
            callbacks=chosen if callbacks else [],
        )
        runs.append(
            [keras.ops.convert_to_numpy(v) for v in distiller.variables]
        )
    # Drawing grids neither consumed nor changed the run's randomness.
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    # Fixed noise: the same model draws the same grid twice.
    grid.set_model(distiller)
    images, labels = grid._draw()
    again, labels_again = grid._draw()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(images), keras.ops.convert_to_numpy(again)
    )
    assert labels == labels_again and labels[0].startswith("c")
    assert sorted(os.listdir(tmp_path / "grids")) == [
        "epoch_0001.png",
        "epoch_0002.png",
    ]
    pytest.importorskip("tensorflow")
    tags = _event_tags(str(tmp_path / "logs"))
    assert "synthetic_images" in tags
    assert "epoch_student_loss" in tags

    with pytest.raises(ValueError, match="3 class names"):
        distiller.fit(
            steps=1,
            verbose=0,
            callbacks=[
                keras_dfkd.callbacks.ImageGrid(
                    str(tmp_path), class_names=["a", "b", "c"]
                )
            ],
        )
