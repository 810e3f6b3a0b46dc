"""`ImageGrid`: one labelled PNG grid of synthetic images per epoch."""

import os

import keras
import numpy as np

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.utils.image_grid import labelled_image_grid


@keras_dfkd_export("keras_dfkd.callbacks.ImageGrid")
class ImageGrid(keras.callbacks.Callback):
    """Saves a labelled grid of the method's synthetic images every epoch.

    The grid is drawn from fixed noise and labels: the distiller's random
    generators are set to states derived from `seed` for the drawing and
    restored afterwards, so consecutive grids show how the same inputs
    evolve and the run's own random stream (and an exact resume) is
    untouched. Each image is captioned with the teacher's class for it
    and the teacher's confidence, e.g. `"7 98%"` or `"sneaker 61%"`.
    Images in a known input range (`distiller.input_range`) are shown as
    the pixels they are; standardised images are min-max scaled each.

    With `tensorboard_dir` the grid is also written as an image summary
    (TensorFlow must be installed; works whatever the Keras backend), next
    to the scalars of `keras.callbacks.TensorBoard(tensorboard_dir)`.

    Hooks `on_epoch_end` only, so Keras may dispatch batch hooks
    asynchronously.

    Args:
        directory: folder for `epoch_{epoch:04d}.png` files.
        num_images: int. Images per grid. Defaults to `64`.
        every_n_epochs: int. Defaults to `1`.
        class_names: `None` or one name per teacher class for the
            captions. Defaults to `None` (class indices).
        seed: int. Fixes the grid's noise and labels. Defaults to `0`.
        zoom: int. Pixel enlargement so captions fit. Defaults to `3`.
        tensorboard_dir: `None` or a TensorBoard log directory.

    Example:

    ```python
    distiller.fit(steps=1000, steps_per_epoch=100, callbacks=[
        keras_dfkd.callbacks.ImageGrid("grids/", class_names=names,
                                       tensorboard_dir="logs/"),
        keras.callbacks.TensorBoard("logs/"),
    ])
    ```
    """

    def __init__(
        self,
        directory,
        num_images=64,
        every_n_epochs=1,
        class_names=None,
        seed=0,
        zoom=3,
        tensorboard_dir=None,
    ):
        super().__init__()
        for name, value in (
            ("num_images", num_images),
            ("every_n_epochs", every_n_epochs),
            ("zoom", zoom),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive int; received {value!r}."
                )
        self.directory = directory
        self.num_images = num_images
        self.every_n_epochs = every_n_epochs
        self.class_names = None if class_names is None else list(class_names)
        self.seed = seed
        self.zoom = zoom
        self.tensorboard_dir = tensorboard_dir
        self._writer = None

    def on_train_begin(self, logs=None):
        classes = self.model.method.num_classes
        if self.class_names is not None and len(self.class_names) != classes:
            raise ValueError(
                f"ImageGrid got {len(self.class_names)} class names but the "
                f"teacher has {classes} classes."
            )

    def _draw(self):
        """Images and captions from fixed random states (then restored)."""
        states = self.model.seed_states()
        saved = [keras.ops.convert_to_numpy(s) for s in states]
        try:
            for i, (state, value) in enumerate(zip(states, saved)):
                fixed = np.array([self.seed, i], dtype=value.dtype)
                state.assign(fixed)
            images = self.model.generate(self.num_images)
            logits = self.model.method.teacher(images)["logits"]
        finally:
            for state, value in zip(states, saved):
                state.assign(value)
        probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
        names = self.class_names or [str(k) for k in range(probs.shape[-1])]
        labels = [
            f"{names[k]} {p[k]:.0%}" for k, p in zip(probs.argmax(-1), probs)
        ]
        return images, labels

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        images, labels = self._draw()
        input_range = self.model.input_range
        grid = labelled_image_grid(
            input_range.to_pixels(images),
            labels,
            zoom=self.zoom,
            pixels=not input_range.is_standardized,
        )
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"epoch_{epoch + 1:04d}.png")
        keras.utils.save_img(path, grid, scale=False)
        if self.tensorboard_dir is not None:
            self._write_summary(grid, epoch + 1)

    def _write_summary(self, grid, step):
        try:
            import tensorflow as tf
        except ImportError:
            raise ImportError(
                "ImageGrid(tensorboard_dir=...) writes TensorBoard "
                "summaries with TensorFlow: pip install tensorflow."
            ) from None
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.tensorboard_dir, "images")
            )
        with self._writer.as_default():
            tf.summary.image("synthetic_images", grid[None], step=step)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
