"""NAYER's generator: label-text embedding, BN, noisy layer, DCGAN body."""

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.backend import keras_shims
from keras_dfkd.generators.generator import Generator
from keras_dfkd.generators.label_embedding import LabelTextEmbedding
from keras_dfkd.generators.noisy_layer import NoisyLayer

# Variables a layer creates from `<name>_initializer`.
_INITIALIZED = (
    "kernel",
    "bias",
    "gamma",
    "beta",
    "moving_mean",
    "moving_variance",
)


@keras_dfkd_export("keras_dfkd.generators.NAYERGenerator")
class NAYERGenerator(keras.layers.Layer):
    """Maps class labels to images through a noisy layer (NAYER).

    ```
    e = LTE[y]                       # frozen label-text embedding
    e = BatchNorm(e)                 # spreads the embeddings apart
    v = NoisyLayer(e)                # K-to-1 dense maps, redrawn per batch
    x = Generator(v)                 # DCGAN body, sigmoid: pixels in [0, 1]
    ```

    The labels must be class-balanced and ordered, `[0..K-1, 0..K-1, ...]`
    (see `ordered_labels`), so each noisy dense map sees one sample of
    every class. All of the generator's randomness is in the noisy layer.

    Args:
        image_shape: tuple `(height, width, channels)`.
        num_classes: int. Number of classes `K`.
        embedding_dim: int. Size of the label-text embeddings.
        batch_size: int. Synthesis batch size, a multiple of
            `num_classes`; fixes the number of noisy dense maps.
        embeddings: array `(num_classes, embedding_dim)` or `None`. The
            label-text embeddings (when `None` they are zeros until weights
            are loaded). Defaults to `None`.
        noise_dim: int. Output size of the noisy layer (NAYER's
            `le_emb_size`). Defaults to `1000`.
        width: int. Width of the DCGAN body. Defaults to `64`.
        num_upsamples: int. Defaults to `2`.
        noise_stddev: float. Standard deviation of the noisy layer's
            redrawn weights. Defaults to `1.0`.
        **kwargs: standard layer arguments such as `name`.

    Call arguments:
        labels: int tensor `(batch_size,)` of ordered labels.
        training: bool. Whether BN layers use batch statistics.

    Example:

    ```python
    generator = keras_dfkd.generators.NAYERGenerator(
        (32, 32, 1), num_classes=10, embedding_dim=384, batch_size=100,
        embeddings=table)
    images = generator(generator.ordered_labels(), training=True)
    ```

    Reference:
        - [Tran et al., NAYER, CVPR 2024](https://arxiv.org/abs/2310.00258)
    """

    def __init__(
        self,
        image_shape,
        num_classes,
        embedding_dim,
        batch_size,
        embeddings=None,
        noise_dim=1000,
        width=64,
        num_upsamples=2,
        noise_stddev=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if batch_size % num_classes:
            raise ValueError(
                f"The synthesis batch size ({batch_size}) must be a multiple "
                f"of the number of classes ({num_classes}): NAYER's batches "
                "hold one sample of every class per noisy layer. Use e.g. "
                f"batch_size={max(1, batch_size // num_classes) * num_classes}."
            )
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.width = width
        self.num_upsamples = num_upsamples
        self.noise_stddev = noise_stddev
        self.label_embedding = LabelTextEmbedding(
            num_classes,
            embedding_dim,
            embeddings=embeddings,
            name="label_embedding",
        )
        self.embedding_norm = keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5, name="embedding_norm"
        )
        self.noisy_layer = NoisyLayer(
            noise_dim,
            num_groups=batch_size // num_classes,
            stddev=noise_stddev,
            name="noisy_layer",
        )
        self.body = Generator(
            self.image_shape,
            latent_dim=noise_dim,
            width=width,
            num_upsamples=num_upsamples,
            output_activation="sigmoid",
            conv_bias=False,
            name="body",
        )

    @property
    def latent_dim(self):
        return self.noise_dim

    def build(self, input_shape=None):
        self.label_embedding.build((self.batch_size,))
        self.embedding_norm.build((self.batch_size, self.embedding_dim))
        self.noisy_layer.build((self.batch_size, self.embedding_dim))
        self.body.build()
        self.built = True

    def ordered_labels(self):
        """Returns the class-balanced, ordered labels `[0..K-1, ...]`."""
        return ops.tile(
            ops.arange(self.num_classes, dtype="int32"),
            (self.batch_size // self.num_classes,),
        )

    def call(self, labels, training=None):
        embeddings = self.label_embedding(labels)
        embeddings = self.embedding_norm(embeddings, training=training)
        return self.body(self.noisy_layer(embeddings), training=training)

    def reinitialize_noise(self, seed):
        """Redraws the noisy layer (before every synthesis batch)."""
        self.noisy_layer.reinitialize(seed)

    def recreate(self, seed, condition=True):
        """Re-initialises the embedding BN and the body, if `condition`.

        With `reinitialize_noise()`, the equivalent of NAYER's `G.reinit()`
        (a brand-new generator), done by assigning fresh values from each
        layer's initializers, so it works inside a compiled step.
        `condition` may be a boolean tensor; the fresh values are drawn
        either way. The frozen embeddings are kept.

        Args:
            seed: a `keras.random.SeedGenerator` for the random
                initializers.
            condition: bool or boolean scalar tensor.
        """
        for layer in (self.embedding_norm, self.body):
            for sublayer in keras_shims.flatten_layers(layer):
                for name in _INITIALIZED:
                    variable = getattr(sublayer, name, None)
                    initializer = getattr(sublayer, f"{name}_initializer", None)
                    if variable is None or initializer is None:
                        continue
                    config = initializer.get_config()
                    if "seed" in config:
                        initializer = type(initializer)(
                            **{**config, "seed": seed}
                        )
                    fresh = initializer(variable.shape, variable.dtype)
                    variable.assign(ops.where(condition, fresh, variable.value))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.image_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim,
                "batch_size": self.batch_size,
                "noise_dim": self.noise_dim,
                "width": self.width,
                "num_upsamples": self.num_upsamples,
                "noise_stddev": self.noise_stddev,
            }
        )
        return config
