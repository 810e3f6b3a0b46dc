"""`BestBatch`: the lowest-loss batch of one synthesis."""

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.utils.arguments import check_int

# Larger than any loss, smaller than float32's max (stays finite).
_NO_LOSS_YET = 3e38


@keras_dfkd_export("keras_dfkd.layers.BestBatch")
class BestBatch(keras.layers.Layer):
    """Keeps the batch of images with the lowest loss since `reset`.

    Per-batch synthesis (NAYER's generator steps on one noisy layer,
    DeepInversion's steps on one image batch) takes several steps on the
    same batch and keeps its lowest-loss images, not the last:

    ```
    reset():          loss <- +inf
    update(x, L):     if L < loss: images <- x; loss <- L
    ```

    Both are held in non-trainable variables, so `update` runs inside the
    compiled step and the state is saved with checkpoints. Nothing
    receives a gradient.

    Args:
        image_shape: tuple of int. Shape of one image, `(H, W, C)`.
        batch_size: int. Images per batch.
        **kwargs: standard layer arguments.

    Example:

    ```python
    best = keras_dfkd.layers.BestBatch((32, 32, 3), batch_size=200)
    best.build()
    best.reset()
    best.update(images, loss)        # once per synthesis step
    pool.add(best.images)
    ```
    """

    def __init__(self, image_shape, batch_size, **kwargs):
        super().__init__(**kwargs)
        check_int("batch_size", batch_size)
        self.image_shape = tuple(image_shape)
        self.batch_size = batch_size

    def build(self, input_shape=None):
        self.loss = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="loss"
        )
        self.images = self.add_weight(
            shape=(self.batch_size,) + self.image_shape,
            initializer="zeros",
            trainable=False,
            name="images",
        )
        self.built = True

    def reset(self):
        """Forgets the kept batch: the next `update` always keeps its."""
        self.loss.assign(_NO_LOSS_YET)

    def update(self, images, loss):
        """Keeps `images` when `loss` (a scalar) is the lowest so far."""
        loss = ops.stop_gradient(loss)
        better = ops.less(loss, self.loss)
        self.images.assign(
            ops.where(better, ops.stop_gradient(images), self.images.value)
        )
        self.loss.assign(ops.where(better, loss, self.loss.value))

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=self.image_shape, batch_size=self.batch_size)
        return config
