"""`ImageGrid`: one PNG grid of synthetic images per epoch."""

import os

import keras

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.utils.image_grid import save_image_grid


@keras_dfkd_export("keras_dfkd.callbacks.ImageGrid")
class ImageGrid(keras.callbacks.Callback):
    """Saves a grid of the method's synthetic images after every epoch.

    Hooks `on_epoch_end` only, so Keras may dispatch batch hooks
    asynchronously.

    Args:
        directory: folder for `epoch_{epoch:04d}.png` files.
        num_images: int. Images per grid. Defaults to `64`.
        every_n_epochs: int. Defaults to `1`.

    Example:

    ```python
    distiller.fit(steps=1000, steps_per_epoch=100,
                  callbacks=[keras_dfkd.callbacks.ImageGrid("grids/")])
    ```
    """

    def __init__(self, directory, num_images=64, every_n_epochs=1):
        super().__init__()
        if num_images < 1 or every_n_epochs < 1:
            raise ValueError(
                "`num_images` and `every_n_epochs` must be positive."
            )
        self.directory = directory
        self.num_images = num_images
        self.every_n_epochs = every_n_epochs

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        images = self.model.generate(self.num_images)
        save_image_grid(
            images, os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png")
        )
