"""An ensemble of class-conditional generators, trained in one step."""

import functools

import keras
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.generators.generator import Generator
from keras_dfkd.input_range import InputRange


@keras_dfkd_export("keras_dfkd.generators.GeneratorEnsemble")
class GeneratorEnsemble(keras.Model):
    """`size` independent `Generator.luo` generators used as one model.

    Luo et al. train several generators on the teacher's BN statistics and
    let the student learn from all of them. Here the members are trained
    together: with `member=None` the batch is split into `size` equal
    shares, member `i` makes share `i`, and the shares are concatenated,
    so one compiled step updates every member while each member's loss
    (its own batch statistics) stays independent of the others. With a
    `member` index only that member runs: the stage-2 sampling of a
    frozen ensemble.

    ```
    member=None:  x = concat_i G_i(z_i, y_i)        # z, y split in `size`
    member=k:     x = G_k(z, y)                     # k may be a tensor
    ```

    The ensemble is a `keras.Model`, so `ensemble.save("gens.keras")` and
    `keras.saving.load_model` store and restore all members at once.

    Args:
        image_shape: tuple `(height, width, channels)` of the images.
        num_classes: int. Number of classes of the condition.
        size: int. Number of members. Defaults to `4`.
        latent_dim: int. Defaults to `100`.
        width: int. Channels of each member's last block. Defaults to `64`.
        num_upsamples: int or `None`. See `Generator`.
        separable: bool. See `Generator`. Defaults to `False`.
        input_range: `None` or the teacher's `keras_dfkd.InputRange`. See
            `Generator.luo`. Defaults to `None`.
        **kwargs: standard model arguments such as `name`.

    Call arguments:
        inputs: `[noise, labels]`, shapes `(batch, latent_dim)` and
            `(batch,)`; with `member=None`, `batch` must be a multiple of
            `size`.
        member: `None`, a Python int or a scalar int tensor.
        training: bool. A tensor `member` requires `training=False`: a
            frozen member's BN statistics must not change inside a branch.

    Example:

    >>> ensemble = keras_dfkd.generators.GeneratorEnsemble(
    ...     (32, 32, 1), num_classes=10, size=2, width=8)
    >>> z, y = keras.random.normal((4, 100)), ops.arange(4)
    >>> tuple(ensemble([z, y]).shape), tuple(ensemble([z, y], member=1).shape)
    ((4, 32, 32, 1), (4, 32, 32, 1))

    Reference:
        - [Luo et al., 2020. Large-Scale Generative Data-Free
          Distillation](https://arxiv.org/abs/2012.05578)
    """

    def __init__(
        self,
        image_shape,
        num_classes,
        size=4,
        latent_dim=100,
        width=64,
        num_upsamples=None,
        separable=False,
        input_range=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "generator_ensemble")
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(
                f"`size` must be a positive int; received {size!r}."
            )
        self.image_shape = tuple(int(d) for d in image_shape)
        self.num_classes = num_classes
        self.size = size
        self.latent_dim = latent_dim
        self.width = width
        self.separable = separable
        self.members = [
            Generator.luo(
                self.image_shape,
                num_classes,
                latent_dim=latent_dim,
                width=width,
                num_upsamples=num_upsamples,
                separable=separable,
                input_range=input_range,
                dtype=self.dtype_policy,
                name=f"member_{i}",
            )
            for i in range(size)
        ]
        self.num_upsamples = self.members[0].num_upsamples
        self.input_range = self.members[0].input_range
        # Members are built here (their shapes are known), so a reloaded
        # ensemble has its weights before the first call.
        for member in self.members:
            member.build()
        self.built = True

    def call(self, inputs, member=None, training=None):
        noise, labels = inputs
        if member is None:
            batch = noise.shape[0]
            if batch is not None and batch % self.size:
                raise ValueError(
                    f"A batch of {batch} cannot be split among the "
                    f"{self.size} members of the ensemble; use a multiple "
                    f"of {self.size}."
                )
            noises = ops.split(noise, self.size)
            label_shares = ops.split(labels, self.size)
            return ops.concatenate(
                [
                    generator([z, y], training=training)
                    for generator, z, y in zip(
                        self.members, noises, label_shares
                    )
                ],
                axis=0,
            )
        if isinstance(member, int):
            if not 0 <= member < self.size:
                raise ValueError(
                    f"`member` must be in [0, {self.size}); received {member}."
                )
            return self.members[member]([noise, labels], training=training)
        if training:
            raise ValueError(
                "A tensor `member` needs training=False: the branches of "
                "the member switch cannot update BN statistics."
            )
        branches = [
            functools.partial(_run_member, generator)
            for generator in self.members
        ]
        return ops.switch(ops.cast(member, "int32"), branches, noise, labels)

    @classmethod
    def check_argument(cls, ensemble, size):
        """Raises a clear error unless `ensemble` is `None` or fits `size`.

        Args:
            ensemble: the value of a method's `ensemble` argument.
            size: int, the method's `ensemble_size`.
        """
        if ensemble is None:
            return
        if not isinstance(ensemble, cls):
            raise TypeError(
                "`ensemble` must be a keras_dfkd.generators."
                f"GeneratorEnsemble; received {type(ensemble).__name__}."
            )
        if ensemble.size != size:
            raise ValueError(
                f"`ensemble` has {ensemble.size} members but "
                f"ensemble_size={size}."
            )

    def check_fits(self, teacher):
        """Raises a clear `ValueError` unless the ensemble fits `teacher`.

        Its images must have the teacher's input shape, its condition the
        teacher's classes and its output the teacher's input range.

        Args:
            teacher: a `keras_dfkd.teacher.Teacher`.
        """
        if (
            self.image_shape != tuple(teacher.input_shape)
            or self.num_classes != teacher.num_classes
        ):
            raise ValueError(
                f"The given `ensemble` makes {self.image_shape} images of "
                f"{self.num_classes} classes, but the teacher takes "
                f"{tuple(teacher.input_shape)} and has {teacher.num_classes} "
                "classes."
            )
        own = self.input_range or InputRange.standardized()
        if own != teacher.input_range:
            raise ValueError(
                f"The given `ensemble` makes images in {own}, but the "
                f"teacher's input range is {teacher.input_range}: build the "
                "ensemble with the teacher's input_range."
            )

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],) + self.image_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "num_classes": self.num_classes,
                "size": self.size,
                "latent_dim": self.latent_dim,
                "width": self.width,
                "num_upsamples": self.num_upsamples,
                "separable": self.separable,
                "input_range": (
                    None
                    if self.input_range is None
                    else self.input_range.get_config()
                ),
            }
        )
        return config


def _run_member(generator, noise, labels):
    return generator([noise, labels], training=False)
