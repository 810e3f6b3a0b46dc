"""The interface shared by replay memories of synthetic data."""

import keras

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.replay.Replay")
class Replay(keras.layers.Layer):
    """Base class of replay memories: where past synthetic data comes back.

    A replay memory gives a method images it made earlier, so the student
    keeps rehearsing them while the generator moves on. Two kinds exist:

    - a *stored* memory (`ImagePool`) keeps the images themselves: `add`
      writes them and `sample` reads them back;
    - a *learned* memory (`VAEReplay`) keeps a generative model of them:
      `add` does nothing, and the method runs `training_loss` in a phase of
      its own (variable group `"replay"`, optimizer `default_optimizer()`)
      on fresh synthetic images, while `sample` generates replay images.

    Both run inside the compiled step on every backend. A method that
    accepts a `replay` argument works with either.

    Subclasses implement `sample` and `memory_bytes`, and either `add`
    (stored) or `learns = True`, `training_loss` and `default_optimizer`.
    """

    #: Whether the memory is a model trained in a `"replay"` phase.
    learns = False

    #: Names of the scalars `training_loss` logs.
    log_names = ()

    def setup(self, teacher):
        """Binds the memory to the distiller's teacher (a `Teacher`)."""

    def add(self, images):
        """Offers a batch of new synthetic images to the memory."""
        raise NotImplementedError

    def sample(self, batch_size):
        """Returns `batch_size` replayed images (no gradient flows back)."""
        raise NotImplementedError

    @property
    def memory_bytes(self):
        """Python int, the bytes the memory occupies."""
        raise NotImplementedError

    def training_loss(self, images, replay_batch_size):
        """Returns `(loss, logs)` of one training step of a learned memory."""
        raise NotImplementedError(
            f"{type(self).__name__} stores images and has no training loss."
        )

    def default_optimizer(self):
        """Returns the optimizer of a learned memory's `"replay"` group."""
        return None
