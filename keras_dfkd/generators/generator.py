"""DCGAN-style image generator, unconditional or class-conditional."""

import keras
from keras import ops

from keras_dfkd import backend
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.input_range import InputRange
from keras_dfkd.layers.spectral_norm import SpectralNorm
from keras_dfkd.layers.to_input_range import ToInputRange

#: The smallest feature map an automatic upsampling stack starts from.
MIN_INITIAL_SIZE = 7

#: How the blocks' channels follow `width`.
CHANNEL_SCHEDULES = ("dcgan", "pyramid")


def default_num_upsamples(image_size):
    """Halves `image_size` while the result stays an int >= 7.

    28 -> 2 (7x7 start), 32 -> 2 (8x8), 64 -> 3 (8x8), 224 -> 5 (7x7).
    """
    count = 0
    while image_size % 2 == 0 and image_size // 2 >= MIN_INITIAL_SIZE:
        image_size //= 2
        count += 1
    return count


def block_channels(width, num_upsamples, schedule):
    """The channels of the projection and of each upsampling block.

    `"dcgan"`: `2w` for the projection and every block but the last, `w`
    for the last (DAFL/DFAD/DFQ). `"pyramid"`: block `i` has
    `w * 2**min(n - 1 - i, 3)` and the projection the first block's (Luo
    et al.'s `[128, 64]` for `n = 2`, `w = 64`).
    """
    if schedule == "dcgan":
        if not num_upsamples:
            return 2 * width, []
        return 2 * width, [2 * width] * (num_upsamples - 1) + [width]
    blocks = [
        width * 2 ** min(num_upsamples - 1 - i, 3) for i in range(num_upsamples)
    ]
    return (blocks or [width])[0], blocks


@keras_dfkd_export("keras_dfkd.generators.Generator")
class Generator(keras.layers.Layer):
    """DCGAN-style generator that maps noise (and labels) to images.

    The body is the generator shared by DAFL, DFAD, DFQ and the CMI/Fast/NAYER
    code lineage:

    ```
    Dense(latent -> 2w * s * s) -> reshape (s, s, 2w) -> BN
    [Upsample x2 -> Conv3x3(2w) -> BN -> LeakyReLU(0.2)] * (num_upsamples-1)
    Upsample x2 -> Conv3x3(w) -> BN -> LeakyReLU(0.2)
    Conv3x3(C) -> output_activation [-> BN(C, affine-free)]
    [-> pixels in [0, 1] -> ToInputRange(input_range)]

    (with a known `input_range`, `output_batch_norm` puts the BN before
    `output_activation`)
    ```

    with `s = ceil(H / 2**num_upsamples)` and `w = width`; images of a
    size that is no multiple of `2**num_upsamples` (e.g. 30 px with 2
    upsamplings) are made slightly larger and centre-cropped. With
    `input_range` the output lies in the teacher's input domain: a
    known range maps the activation's output (tanh's [-1, 1] or
    sigmoid's [0, 1]) onto pixels in [0, 1] and then with
    `keras_dfkd.layers.ToInputRange`; `InputRange.standardized()` adds
    the affine-free output BN instead. With a known range and
    `output_batch_norm=True` the affine-free BN moves before the
    activation, `pixels = (tanh(BN(conv)) + 1) / 2`: each batch keeps a
    per-channel spread instead of saturating at the range's ends (an
    adversarial or activation-driven generator with no BN-statistics
    loss otherwise drifts to near-binary images of one class). With
    `num_classes`
    set, the generator is class-conditional: the one-hot label is
    concatenated to the noise vector (Luo et al. 2020).

    DAFL and DFAD use `output_activation="tanh"` and
    `output_batch_norm=True`, so images come out standardised, like
    normalised real images; DAFL also keeps `batch_norm_epsilon=0.8` (sic)
    in the conv blocks (`Generator.dafl`). The Fast/NAYER variant
    uses `output_activation="sigmoid"` (images in [0, 1], normalised
    afterwards) and convolutions without bias. Luo et al.'s
    class-conditional generator (`Generator.luo`) projects without bias
    and with a LeakyReLU, widens its blocks towards the input
    (`channels="pyramid"`), picks the upsampling stack from the image size
    (28 to 224 px) and ends in a scale-only BN.

    Args:
        image_shape: tuple `(height, width, channels)` of the images to make,
            usually the teacher's input shape. Height and width must be at
            least `2**num_upsamples`.
        latent_dim: int. Size of the noise vector. Defaults to `100`.
        width: int. Channel width `w` of the last conv block; the first
            blocks use `2 * w`. Defaults to `64` (the papers' value; use 8-16
            for fast CPU runs).
        num_classes: int or `None`. When set, the generator is conditional
            and `call` takes `[noise, labels]`. Defaults to `None`.
        num_upsamples: int or `None`. Number of x2 upsampling stages;
            `None` halves the image while the start stays at least 7x7
            (2 for 28 and 32 px, 3 for 64, 5 for 224). Defaults to `2`.
        batch_norm_epsilon: float. Epsilon of the conv blocks' BN. Defaults
            to `1e-5`.
        batch_norm_momentum: float. Keras-convention momentum of every BN
            (0.9 equals PyTorch's 0.1). Defaults to `0.9`.
        output_activation: `"tanh"`, `"sigmoid"` or `None`. Defaults to
            `"tanh"`.
        output_batch_norm: bool. An affine-free BN on the output
            (DAFL/DFAD): after the activation for a standardised (or no)
            input range, before it for a known range. Defaults to
            `False`.
        conv_bias: bool. Whether the hidden convolutions have a bias.
            Defaults to `True`.
        spectral_normalization: bool. Wrap every convolution in
            `keras_dfkd.layers.SpectralNorm` (PyTorch's `spectral_norm`:
            one power iteration per training call, the raw kernel kept
            and trained), as PRE-DFKD's novel generator does. Defaults to
            `False`.
        input_range: `None` or the teacher's `keras_dfkd.InputRange`, as
            above. Defaults to `None`.
        projection_bias: bool. Whether the input projection has a bias.
            Defaults to `True`.
        projection_activation: `None` or `"leaky_relu"` (slope 0.2) after
            the projection's BN. Defaults to `None`.
        separable: bool. Depthwise-separable block convolutions (Luo et
            al.'s lighter variant). Defaults to `False`.
        channels: `"dcgan"` or `"pyramid"`, see `block_channels`.
            Defaults to `"dcgan"`.
        output_batch_norm_scale: bool. Whether the output BN learns a
            scale (Luo et al.'s) instead of being affine-free. Defaults to
            `False`.
        output_batch_norm_epsilon: float. Epsilon of the output BN
            (PyTorch's `1e-5` in DAFL, DFAD and PRE-DFKD; `Generator.luo`
            keeps Keras's `1e-3` where Luo et al.'s code inherits its
            blocks' `0.8`). Defaults to `1e-5`.
        **kwargs: standard layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: noise of shape `(batch, latent_dim)`, or for a conditional
            generator a list `[noise, labels]` with integer labels of shape
            `(batch,)`.
        training: bool. Whether BN uses batch statistics.
        return_diagnostics: bool. Also return a dict of scalars:
            `saturation`, the fraction of output-activation values within
            1 % of its bounds, and `output_variance`, the mean per-channel
            batch variance of the activation's output (what an output BN
            after it divides by). Defaults to `False`.

    Returns:
        Images of shape `(batch,) + image_shape` (and the diagnostics).

    Example:

    >>> gen = keras_dfkd.generators.Generator((32, 32, 1), width=8)
    >>> images = gen(keras.random.normal((4, 100)))
    >>> tuple(images.shape)
    (4, 32, 32, 1)

    Reference:
        - [Radford et al., 2016](https://arxiv.org/abs/1511.06434)
        - [Chen et al., DAFL, 2019](https://arxiv.org/abs/1904.01186)
    """

    def __init__(
        self,
        image_shape,
        latent_dim=100,
        width=64,
        num_classes=None,
        num_upsamples=2,
        batch_norm_epsilon=1e-5,
        batch_norm_momentum=0.9,
        output_activation="tanh",
        output_batch_norm=False,
        conv_bias=True,
        spectral_normalization=False,
        input_range=None,
        projection_bias=True,
        projection_activation=None,
        separable=False,
        channels="dcgan",
        output_batch_norm_scale=False,
        output_batch_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        input_range = InputRange.get(input_range)
        if input_range is not None and input_range.is_standardized:
            output_batch_norm, input_range = True, None
        if input_range is not None and output_activation is None:
            raise ValueError(
                "A generator with a known `input_range` maps its "
                "activation's output onto the range: it needs "
                "output_activation='tanh' or 'sigmoid'; received None."
            )
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3:
            raise ValueError(
                "`image_shape` must be (height, width, channels); received "
                f"{image_shape}. The generator only makes images: use a "
                "teacher whose input is an image batch (N, H, W, C)."
            )
        height, width_px, image_channels = image_shape
        if num_upsamples is None:
            num_upsamples = min(
                default_num_upsamples(height), default_num_upsamples(width_px)
            )
        factor = 2**num_upsamples
        if min(height, width_px) < factor:
            raise ValueError(
                f"The generator cannot make {height}x{width_px} images with "
                f"num_upsamples={num_upsamples}: height and width must be "
                f"at least {factor}. Choose a smaller `num_upsamples`."
            )
        if latent_dim < 1 or width < 1:
            raise ValueError(
                "`latent_dim` and `width` must be positive; received "
                f"latent_dim={latent_dim}, width={width}."
            )
        if num_classes is not None and (
            not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(
                "`num_classes` must be a positive int or None; received "
                f"{num_classes!r}."
            )
        if channels not in CHANNEL_SCHEDULES:
            raise ValueError(
                f"`channels` must be one of {CHANNEL_SCHEDULES}; received "
                f"{channels!r}."
            )
        if projection_activation not in (None, "leaky_relu"):
            raise ValueError(
                "`projection_activation` must be None or 'leaky_relu'; "
                f"received {projection_activation!r}."
            )
        if output_activation not in ("tanh", "sigmoid", None):
            raise ValueError(
                "`output_activation` must be 'tanh', 'sigmoid' or None; "
                f"received {output_activation!r}."
            )
        self.image_shape = image_shape
        self.latent_dim = latent_dim
        self.width = width
        self.num_classes = num_classes
        self.num_upsamples = num_upsamples
        self.batch_norm_epsilon = batch_norm_epsilon
        self.batch_norm_momentum = batch_norm_momentum
        self.output_activation = output_activation
        self.output_batch_norm = output_batch_norm
        self.conv_bias = conv_bias
        self.spectral_normalization = spectral_normalization
        self.input_range = input_range
        self.projection_bias = projection_bias
        self.projection_activation = projection_activation
        self.separable = separable
        self.channels = channels
        self.output_batch_norm_scale = output_batch_norm_scale
        self.output_batch_norm_epsilon = output_batch_norm_epsilon

        # Rounded up; the output is centre-cropped to the image size.
        self._init_size = (-(-height // factor), -(-width_px // factor))
        self._init_channels, filters_per_block = block_channels(
            width, num_upsamples, channels
        )
        bn = dict(momentum=batch_norm_momentum, dtype=self.dtype_policy)
        self.project = keras.layers.Dense(
            self._init_channels * self._init_size[0] * self._init_size[1],
            use_bias=projection_bias,
            dtype=self.dtype_policy,
            name="project",
        )
        self.project_norm = keras.layers.BatchNormalization(
            epsilon=1e-5, name="project_norm", **bn
        )
        # Two flat lists (not a list of tuples) so Keras tracks the layers.
        self.convs = []
        self.norms = []
        conv = (
            keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
        )
        for i, filters in enumerate(filters_per_block):
            self.convs.append(
                self._maybe_normalized(
                    conv(
                        filters,
                        3,
                        padding="same",
                        use_bias=conv_bias,
                        dtype=self.dtype_policy,
                        name=f"conv_{i}",
                    )
                )
            )
            self.norms.append(
                keras.layers.BatchNormalization(
                    epsilon=batch_norm_epsilon, name=f"norm_{i}", **bn
                )
            )
        self.to_image = self._maybe_normalized(
            keras.layers.Conv2D(
                image_channels,
                3,
                padding="same",
                dtype=self.dtype_policy,
                name="to_image",
            )
        )
        self.output_norm = None
        if output_batch_norm:
            self.output_norm = keras.layers.BatchNormalization(
                center=False,
                scale=output_batch_norm_scale,
                epsilon=output_batch_norm_epsilon,
                name="output_norm",
                **bn,
            )
        self.to_input_range = None
        if input_range is not None:
            self.to_input_range = ToInputRange(
                input_range, dtype=self.dtype_policy, name="to_input_range"
            )

    @classmethod
    def dafl(cls, image_shape, input_range=None, **kwargs):
        """DAFL's generator (block BN epsilon 0.8, tanh, affine-free BN).

        The blocks' BN epsilon is 0.8 (sic), the output goes through `tanh`
        and an affine-free BN (epsilon 1e-5), so images come out
        standardised. DAFL trains
        it; PRE-DFKD trains it with `spectral_normalization=True`
        and uses it, without, as its VAE's decoder.

        Args:
            image_shape: tuple `(height, width, channels)`.
            input_range: `None` or the teacher's input range: a known
                range maps the tanh output onto it, the affine-free BN
                moved before the tanh. Defaults to `None`.
            **kwargs: the other constructor arguments (`latent_dim`,
                `width`, `spectral_normalization`, `name`, ...).

        Returns:
            A `Generator`.
        """
        return cls(
            image_shape,
            batch_norm_epsilon=0.8,
            output_activation="tanh",
            output_batch_norm=True,
            input_range=input_range,
            **kwargs,
        )

    @classmethod
    def luo(cls, image_shape, num_classes, input_range=None, **kwargs):
        """Luo et al.'s class-conditional generator, 28 to 224 pixels.

        The body of the generator the paper's code released
        (`conditioned_generator`), with a deeper stack for large images:

        ```
        h = LeakyReLU(BN(reshape(Dense(concat(z, one_hot(y))), no bias)))
        repeat i < n:  h = LeakyReLU(BN_eps0.8(Conv3x3(c_i)(Upsample_x2(h))))
        x = BN(scale only)(tanh(Conv3x3(C)(h)))
        ```

        with `c_i` the `"pyramid"` channels and `n` picked from the image
        size. With a known `input_range` the last line is
        `x = ToInputRange((tanh(Conv3x3(C)(h)) + 1) / 2)`: images in the
        teacher's domain rather than standardised by the output BN. The
        blocks' BN epsilon 0.8 is the released code's, kept there from
        the DAFL code "for reproducibility".

        Args:
            image_shape: tuple `(height, width, channels)`.
            num_classes: int. Classes of the one-hot condition.
            input_range: `None` or the teacher's input range. Defaults to
                `None` (standardised images).
            **kwargs: the other constructor arguments (`latent_dim`,
                `width`, `num_upsamples`, `separable`, `name`, ...).

        Returns:
            A class-conditional `Generator`.

        Reference:
            - [Luo et al., 2020. Large-Scale Generative Data-Free
              Distillation](https://arxiv.org/abs/2012.05578)
        """
        input_range = InputRange.get(input_range)
        options = dict(
            num_upsamples=None,
            batch_norm_epsilon=0.8,
            output_activation="tanh",
            # Standardised images (no known range) get the output BN.
            output_batch_norm=input_range is None,
            conv_bias=True,
            projection_bias=False,
            projection_activation="leaky_relu",
            channels="pyramid",
            output_batch_norm_scale=True,
            # The released code's output BN inherits the blocks' 0.8; with
            # it the tanh output leaves the BN at a std of about 0.1-0.3
            # until gamma grows. Keras's 1e-3 is kept until an A/B says
            # otherwise (`output_batch_norm_epsilon=0.8` is the code's).
            output_batch_norm_epsilon=1e-3,
        )
        options.update(kwargs)
        return cls(
            image_shape,
            num_classes=num_classes,
            input_range=input_range,
            **options,
        )

    def _maybe_normalized(self, conv):
        if not self.spectral_normalization:
            return conv
        return SpectralNorm(
            conv, dtype=self.dtype_policy, name=f"{conv.name}_sn"
        )

    def build(self, input_shape=None):
        in_dim = self.latent_dim + (self.num_classes or 0)
        self.project.build((None, in_dim))
        h, w = self._init_size
        channels = self._init_channels
        self.project_norm.build((None, h, w, channels))
        for conv, norm in zip(self.convs, self.norms):
            h, w = 2 * h, 2 * w
            conv.build((None, h, w, channels))
            channels = getattr(conv, "layer", conv).filters
            norm.build((None, h, w, channels))
        self.to_image.build((None, h, w, channels))
        if self.output_norm is not None:
            self.output_norm.build((None,) + self.image_shape)
        if self.to_input_range is not None:
            self.to_input_range.build((None,) + self.image_shape)
        self.built = True

    def call(self, inputs, training=None, return_diagnostics=False):
        if self.num_classes:
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
                raise ValueError(
                    "A conditional generator takes [noise, labels]; received "
                    f"{type(inputs).__name__}."
                )
            noise, labels = inputs
            one_hot = ops.one_hot(
                ops.cast(labels, "int32"), self.num_classes, dtype=noise.dtype
            )
            noise = ops.concatenate([noise, one_hot], axis=-1)
        else:
            noise = inputs
        x = self.project(noise)
        x = ops.reshape(
            x, (-1, self._init_size[0], self._init_size[1], self._init_channels)
        )
        x = self.project_norm(x, training=training)
        if self.projection_activation == "leaky_relu":
            x = ops.leaky_relu(x, negative_slope=0.2)
        for conv, norm in zip(self.convs, self.norms):
            x = _upsample_then_conv(x, conv, training)
            x = norm(x, training=training)
            x = ops.leaky_relu(x, negative_slope=0.2)
        x = self.to_image(x, training=training)
        height, width = self.image_shape[:2]
        top = (x.shape[1] - height) // 2
        left = (x.shape[2] - width) // 2
        if top or left:
            x = x[:, top : top + height, left : left + width, :]
        normalize_first = self.to_input_range is not None
        if self.output_norm is not None and normalize_first:
            x = self.output_norm(x, training=training)
        if self.output_activation == "tanh":
            x = ops.tanh(x)
        elif self.output_activation == "sigmoid":
            x = ops.sigmoid(x)
        diagnostics = _output_diagnostics(x, self.output_activation)
        if self.output_norm is not None and not normalize_first:
            x = self.output_norm(x, training=training)
        if self.to_input_range is not None:
            if self.output_activation == "tanh":
                x = (x + 1.0) * 0.5
            x = self.to_input_range(x)
        if return_diagnostics:
            return x, diagnostics
        return x

    def compute_output_shape(self, input_shape):
        if self.num_classes:
            input_shape = input_shape[0]
        return (input_shape[0],) + self.image_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "latent_dim": self.latent_dim,
                "width": self.width,
                "num_classes": self.num_classes,
                "num_upsamples": self.num_upsamples,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "batch_norm_momentum": self.batch_norm_momentum,
                "output_activation": self.output_activation,
                "output_batch_norm": self.output_batch_norm,
                "conv_bias": self.conv_bias,
                "spectral_normalization": self.spectral_normalization,
                "projection_bias": self.projection_bias,
                "projection_activation": self.projection_activation,
                "separable": self.separable,
                "channels": self.channels,
                "output_batch_norm_scale": self.output_batch_norm_scale,
                "output_batch_norm_epsilon": self.output_batch_norm_epsilon,
                "input_range": (
                    None
                    if self.input_range is None
                    else self.input_range.get_config()
                ),
            }
        )
        return config


def _upsample_then_conv(x, conv, training):
    """`conv(upsample_x2(x))`, nearest-neighbour upsampling.

    A plain `Conv2D` runs as `keras_dfkd.backend.upsample_conv` on its own
    kernel (the same weights, 2.25x fewer multiplications, no upsampled
    tensor); a spectral-normalised, separable or quantized one runs as
    written.
    """
    if (
        type(conv) is keras.layers.Conv2D
        and conv.data_format == "channels_last"
        and getattr(conv, "quantization_mode", None) is None
    ):
        kernel = ops.cast(conv.kernel, conv.compute_dtype)
        x = backend.upsample_conv(ops.cast(x, conv.compute_dtype), kernel)
        if conv.use_bias:
            x = x + ops.cast(conv.bias, conv.compute_dtype)
        return x
    x = ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)
    return conv(x, training=training)


def _output_diagnostics(x, activation):
    """How saturated the output activation is, and its batch variance.

    `saturation`: the fraction of pixels within 1 % of the activation's
    bounds (`|tanh| > 0.99`); `output_variance`: the mean per-channel
    batch variance of the activation's output, what an output BN after
    it divides by.
    """
    centred = 2.0 * x - 1.0 if activation == "sigmoid" else x
    saturated = ops.cast(ops.greater(ops.abs(centred), 0.99), "float32")
    variance = ops.var(ops.cast(x, "float32"), axis=(0, 1, 2))
    return {
        "saturation": ops.mean(saturated),
        "output_variance": ops.mean(variance),
    }
