"""Class-conditional generator of Luo et al. (2020), 28 to 224 pixels."""

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.input_range import InputRange
from keras_dfkd.layers.to_input_range import ToInputRange

#: The smallest feature map the automatic upsampling stack starts from.
MIN_INITIAL_SIZE = 7


def default_num_upsamples(image_size):
    """Halves `image_size` while the result stays an int >= 7.

    28 -> 2 (7x7 start), 32 -> 2 (8x8), 64 -> 3 (8x8), 224 -> 5 (7x7).
    """
    count = 0
    while image_size % 2 == 0 and image_size // 2 >= MIN_INITIAL_SIZE:
        image_size //= 2
        count += 1
    return count


@keras_dfkd_export("keras_dfkd.generators.ConditionalGenerator")
class ConditionalGenerator(keras.layers.Layer):
    """Class-conditional image generator of Large-Scale Generative DFD.

    The body follows the generator Luo et al. released (`conditioned_
    generator`), with a deeper nearest-upsampling stack for large images:

    ```
    h = Dense(concat(z, one_hot(y)) -> s * s * c_0, no bias)
    h = LeakyReLU(BN(reshape(h, (s, s, c_0))))
    repeat i = 0 .. n-1:
        h = LeakyReLU(BN_eps0.8(Conv3x3(c_i)(NearestUpsample_x2(h))))
    x = BN(scale only)(tanh(Conv3x3(C)(h)))
    ```

    With a known `input_range` the last line is instead
    `x = ToInputRange((tanh(Conv3x3(C)(h)) + 1) / 2)`: images in the
    teacher's domain rather than standardised by the output BN.

    with `s = H / 2**n`, `c_i = width * 2**min(n - 1 - i, 3)` (Luo's
    `[128, 64]` for `n = 2`, `width = 64`) and `c_0` the first block's
    width. By default `n` halves the image while the start stays at least
    7x7: 2 upsamplings for 28 and 32 pixels, 3 for 64, 5 for 224. The
    `batch_norm_epsilon=0.8` of the blocks is the released code's value,
    kept there from the DAFL code "for reproducibility".

    Args:
        image_shape: tuple `(height, width, channels)`, usually the
            teacher's input shape. Height and width must be divisible by
            `2**num_upsamples`.
        num_classes: int. Number of classes of the one-hot condition.
        latent_dim: int. Size of the noise vector `z`. Defaults to `100`.
        width: int. Channels of the last block. Defaults to `64`.
        num_upsamples: int or `None`. Number of x2 upsampling blocks;
            `None` picks it from the image size as above. Defaults to
            `None`.
        separable: bool. Use depthwise-separable convolutions in the
            blocks (the released code's lighter variant). Defaults to
            `False`.
        batch_norm_epsilon: float. Epsilon of the blocks' BN. Defaults to
            `0.8`.
        batch_norm_momentum: float. Keras-convention momentum of every BN
            (0.9, the released `decay`). Defaults to `0.9`.
        **kwargs: standard layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: a list `[noise, labels]`: noise `(batch, latent_dim)` and
            integer labels `(batch,)`.
        training: bool. Whether BN uses batch statistics.

    Returns:
        Images `(batch,) + image_shape`, standardised per channel by the
        output BN (the teacher's normalised input space).

    Example:

    >>> gen = keras_dfkd.generators.ConditionalGenerator((32, 32, 3), 10)
    >>> images = gen([keras.random.normal((4, 100)), ops.arange(4)])
    >>> tuple(images.shape)
    (4, 32, 32, 3)

    Reference:
        - [Luo et al., 2020. Large-Scale Generative Data-Free
          Distillation](https://arxiv.org/abs/2012.05578)
    """

    def __init__(
        self,
        image_shape,
        num_classes,
        latent_dim=100,
        width=64,
        num_upsamples=None,
        separable=False,
        batch_norm_epsilon=0.8,
        batch_norm_momentum=0.9,
        input_range=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        input_range = InputRange.get(input_range)
        if input_range is not None and input_range.is_standardized:
            input_range = None
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3:
            raise ValueError(
                "`image_shape` must be (height, width, channels); received "
                f"{image_shape}."
            )
        for name, value in (
            ("num_classes", num_classes),
            ("latent_dim", latent_dim),
            ("width", width),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive int; received {value!r}."
                )
        height, image_width, channels = image_shape
        if num_upsamples is None:
            num_upsamples = min(
                default_num_upsamples(height),
                default_num_upsamples(image_width),
            )
        factor = 2**num_upsamples
        if height % factor or image_width % factor:
            raise ValueError(
                f"The conditional generator cannot make {height}x"
                f"{image_width} images with num_upsamples={num_upsamples}: "
                f"height and width must be multiples of {factor}. Pass "
                "num_upsamples=None to pick a stack that fits, or resize "
                "the teacher's input."
            )
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        self.width = width
        self.num_upsamples = num_upsamples
        self.separable = separable
        self.batch_norm_epsilon = batch_norm_epsilon
        self.batch_norm_momentum = batch_norm_momentum
        self.input_range = input_range

        self._initial_size = (height // factor, image_width // factor)
        self._block_channels = [
            width * 2 ** min(num_upsamples - 1 - i, 3)
            for i in range(num_upsamples)
        ]
        self._initial_channels = (self._block_channels or [width])[0]
        policy = dict(dtype=self.dtype_policy)
        bn = dict(momentum=batch_norm_momentum, **policy)
        self.project = keras.layers.Dense(
            self._initial_size[0]
            * self._initial_size[1]
            * self._initial_channels,
            use_bias=False,
            name="project",
            **policy,
        )
        self.project_norm = keras.layers.BatchNormalization(
            epsilon=1e-5, name="project_norm", **bn
        )
        conv = (
            keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
        )
        # Flat lists (not a list of tuples) so Keras tracks the layers.
        self.convs = [
            conv(filters, 3, padding="same", name=f"conv_{i}", **policy)
            for i, filters in enumerate(self._block_channels)
        ]
        self.norms = [
            keras.layers.BatchNormalization(
                epsilon=batch_norm_epsilon, name=f"norm_{i}", **bn
            )
            for i in range(num_upsamples)
        ]
        self.to_image = keras.layers.Conv2D(
            channels, 3, padding="same", name="to_image", **policy
        )
        self.output_norm = self.to_input_range = None
        if input_range is None:
            self.output_norm = keras.layers.BatchNormalization(
                center=False, scale=True, name="output_norm", **bn
            )
        else:
            self.to_input_range = ToInputRange(
                input_range, name="to_input_range", **policy
            )

    def build(self, input_shape=None):
        self.project.build((None, self.latent_dim + self.num_classes))
        h, w = self._initial_size
        channels = self._initial_channels
        self.project_norm.build((None, h, w, channels))
        for conv, norm in zip(self.convs, self.norms):
            h, w = 2 * h, 2 * w
            conv.build((None, h, w, channels))
            channels = conv.filters
            norm.build((None, h, w, channels))
        self.to_image.build((None, h, w, channels))
        if self.output_norm is not None:
            self.output_norm.build((None, h, w, self.image_shape[-1]))
        else:
            self.to_input_range.build((None, h, w, self.image_shape[-1]))
        self.built = True

    def call(self, inputs, training=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "ConditionalGenerator takes [noise, labels]; received "
                f"{type(inputs).__name__}."
            )
        noise, labels = inputs
        one_hot = ops.one_hot(
            ops.cast(labels, "int32"), self.num_classes, dtype=noise.dtype
        )
        x = self.project(ops.concatenate([noise, one_hot], axis=-1))
        x = ops.reshape(
            x, (-1,) + self._initial_size + (self._initial_channels,)
        )
        x = ops.leaky_relu(self.project_norm(x, training=training), 0.2)
        for conv, norm in zip(self.convs, self.norms):
            # Nearest-neighbour x2 upsampling, as the released code's resize.
            x = ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)
            x = ops.leaky_relu(norm(conv(x), training=training), 0.2)
        x = ops.tanh(self.to_image(x))
        if self.output_norm is not None:
            return self.output_norm(x, training=training)
        return self.to_input_range((x + 1.0) * 0.5)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],) + self.image_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "num_classes": self.num_classes,
                "latent_dim": self.latent_dim,
                "width": self.width,
                "num_upsamples": self.num_upsamples,
                "separable": self.separable,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "batch_norm_momentum": self.batch_norm_momentum,
                "input_range": (
                    None
                    if self.input_range is None
                    else self.input_range.get_config()
                ),
            }
        )
        return config
