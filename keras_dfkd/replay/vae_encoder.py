"""Encoder of PRE-DFKD's replay VAE."""

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export


@keras_dfkd_export("keras_dfkd.replay.VAEEncoder")
class VAEEncoder(keras.Model):
    """Convolutional VAE encoder: images to the mean and log-variance of z.

    The encoder of PRE-DFKD's replay VAE, with its width made a parameter
    (`w`; the paper uses 64):

    ```
    x = x / ||x||_2 over the height axis      (as the reference code does)
    Conv3x3(w)  -> BN(eps 0.8) -> LeakyReLU(0.2)
    Conv3x3(2w) -> BN(eps 0.8) -> LeakyReLU(0.2) -> nearest downsample x1/2
    Conv3x3(2w, stride 2) -> BN(eps 1e-5)        -> nearest downsample x1/2
    flatten -> Dense(latent_dim) (mean), Dense(latent_dim) (log-variance)
    ```

    Images whose height or width is no multiple of 8 (e.g. 28x28) are
    zero-padded at the bottom and right to the next multiple first.

    Args:
        image_shape: tuple `(height, width, channels)`.
        latent_dim: int. Size of the latent code. Defaults to `1000`.
        width: int. Channel width `w`. Defaults to `64`.
        **kwargs: standard model arguments such as `name`.

    Call arguments:
        images: tensor of shape `(batch,) + image_shape`.
        training: bool. Whether BN uses batch statistics.

    Returns:
        A tuple `(mean, log_variance)`, each of shape `(batch, latent_dim)`.

    Example:

    >>> encoder = keras_dfkd.replay.VAEEncoder((32, 32, 1), latent_dim=8,
    ...                                        width=4)
    >>> mean, log_var = encoder(keras.random.normal((2, 32, 32, 1)))
    >>> tuple(mean.shape)
    (2, 8)

    Reference:
        - [Binici et al., 2022](https://arxiv.org/abs/2201.03019)
    """

    def __init__(self, image_shape, latent_dim=1000, width=64, **kwargs):
        super().__init__(**kwargs)
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3:
            raise ValueError(
                "The VAE encoder needs images (height, width, channels); "
                f"received {image_shape}."
            )
        if latent_dim < 1 or width < 1:
            raise ValueError(
                "`latent_dim` and `width` must be positive; received "
                f"latent_dim={latent_dim}, width={width}."
            )
        self.image_shape = image_shape
        self.latent_dim = latent_dim
        self.width = width
        self.convs = [
            keras.layers.Conv2D(width, 3, padding="same", name="conv_0"),
            keras.layers.Conv2D(2 * width, 3, padding="same", name="conv_1"),
            keras.layers.Conv2D(
                2 * width, 3, strides=2, padding="same", name="conv_2"
            ),
        ]
        # PRE-DFKD's encoder: DAFL's epsilon 0.8 in the first two BNs,
        # PyTorch's default 1e-5 in the third.
        self.norms = [
            keras.layers.BatchNormalization(
                epsilon=epsilon, momentum=0.9, name=f"norm_{i}"
            )
            for i, epsilon in enumerate((0.8, 0.8, 1e-5))
        ]
        self.flatten = keras.layers.Flatten()
        self.mean = keras.layers.Dense(latent_dim, name="mean")
        self.log_variance = keras.layers.Dense(latent_dim, name="log_variance")
        self.build((None,) + image_shape)

    @property
    def _padded_size(self):
        h, w = self.image_shape[:2]
        return -(-h // 8) * 8, -(-w // 8) * 8

    def build(self, input_shape):
        h, w = self._padded_size
        channels = self.image_shape[-1]
        self.convs[0].build((None, h, w, channels))
        self.norms[0].build((None, h, w, self.width))
        self.convs[1].build((None, h, w, self.width))
        self.norms[1].build((None, h, w, 2 * self.width))
        self.convs[2].build((None, h // 2, w // 2, 2 * self.width))
        self.norms[2].build((None, h // 4, w // 4, 2 * self.width))
        self.flatten.build((None, h // 8, w // 8, 2 * self.width))
        features = (h // 8) * (w // 8) * 2 * self.width
        self.mean.build((None, features))
        self.log_variance.build((None, features))
        self.built = True

    def call(self, images, training=None):
        norm = ops.sqrt(ops.sum(ops.square(images), axis=1, keepdims=True))
        x = images / ops.maximum(norm, 1e-12)
        h, w = self._padded_size
        if (h, w) != tuple(self.image_shape[:2]):
            pad_h, pad_w = h - x.shape[1], w - x.shape[2]
            x = ops.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
        for i, (conv, bn) in enumerate(zip(self.convs, self.norms)):
            x = bn(conv(x), training=training)
            if i < 2:
                x = ops.leaky_relu(x, negative_slope=0.2)
            if i > 0:
                x = x[:, ::2, ::2, :]  # nearest-neighbour x1/2
        x = self.flatten(x)
        return self.mean(x), self.log_variance(x)

    def compute_output_spec(self, images, training=None):
        shape = (images.shape[0], self.latent_dim)
        return (
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape, dtype=self.compute_dtype),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "latent_dim": self.latent_dim,
                "width": self.width,
            }
        )
        return config
