"""Image grids for looking at synthetic data."""

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
