"""A fixed-capacity pool of synthetic images held in Keras variables."""

import math
import numbers

import keras
from keras import ops

from keras_dfkd import backend
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.replay.replay import Replay

_STORAGE_ITEMSIZE = {"uint8": 1, "float16": 2, "bfloat16": 2, "float32": 4}
_POLICIES = ("ring", "reservoir")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@keras_dfkd_export("keras_dfkd.replay.ImagePool")
class ImagePool(Replay):
    """Fixed-capacity memory of synthetic images, written inside the step.

    NAYER, Fast and CMI keep every synthesized image and train the student
    on batches drawn from all of them. The reference code writes each image
    to disk as a PNG and rebuilds a data loader after every synthesis round.
    This layer keeps the images on the device instead, in a non-trainable
    variable of shape `(capacity, *image_shape)`, so that a compiled train
    step can write and sample it without a host round trip, under
    `tf.function` and under `jax.jit`.

    Formula:

    ```python
    # add(images): image j of the batch is image number n = seen + j.
    # policy="ring":
    slot = n % capacity                 # keeps the last `capacity` images
    # policy="reservoir" (Vitter's algorithm R):
    slot = n if n < capacity else randint(0, n + 1)   # dropped if >= capacity
    pool[slot] = encode(image)          # later images of a batch win
    seen = seen + batch_size
    # sample(k): uniform with replacement over the filled slots.
    out = decode(pool[randint(0, min(seen, capacity), shape=(k,))])
    ```

    With `storage_dtype="uint8"`, `encode` maps `value_range` linearly onto
    `[0, 255]`, clips, and rounds half up, as PNG files written by
    `torchvision.utils.save_image` do: the round trip error is at most half
    a quantization step, `(high - low) / 510`. Float storage dtypes store
    the values as they are (cast, not clipped). `sample` always returns
    `float32`.

    A ring pool with `capacity` at least the number of images ever written
    is NAYER's unbounded pool. A reservoir pool holds a uniform random
    subset of all images ever offered: after `N >= capacity` images, each
    of them is in the pool with probability `capacity / N`. Writes of one
    batch follow the sequential algorithm exactly, including batches larger
    than `capacity` and repeated slots within a batch (the later image
    wins): duplicates are resolved before the scatter, so the result does
    not depend on the backend's scatter order.

    The state lives in non-trainable variables created in the constructor,
    so the layer is usable at once and its contents are saved with the
    weights of a model that holds it:

    - `images`: `(capacity, *image_shape)` of `storage_dtype`, initially
      filled with `value_range[0]` (0 for `"uint8"`).
    - `seen`: `int32` scalar, the number of images offered so far. It
      overflows after `2**31 - 1` images.
    - the state of a `keras.random.SeedGenerator` (the reservoir draws and
      `sample`).

    `add` and `sample` assign to these variables. On TensorFlow they can be
    called in any (compiled) function. On JAX, call them inside the
    `keras.StatelessScope` (or `stateless_call`) of a stateless train step
    that maps the model's non-trainable variables, and read the new values
    back from the scope, as for batch-normalization statistics.

    Args:
        capacity: positive int, the number of image slots.
        image_shape: tuple of positive ints, the shape of one image, e.g.
            `(32, 32, 3)`.
        storage_dtype: one of `"uint8"`, `"float32"`, `"float16"` or
            `"bfloat16"`. Defaults to `"uint8"` (4 times less memory than
            `"float32"`; a 32x32x3 image takes 3 KiB).
        policy: `"ring"` (keep the latest `capacity` images) or
            `"reservoir"` (keep a uniform sample of all images offered).
            Defaults to `"ring"`.
        value_range: pair `(low, high)` of floats with `low < high`, the
            range of the images given to `add` and returned by `sample`.
            Used for `"uint8"` quantization and as the initial fill value.
            Defaults to `(0.0, 1.0)`.
        seed: optional int, the seed of the layer's `SeedGenerator`.
            Defaults to `None`.
        **kwargs: base layer keyword arguments, such as `name`.

    Example:

    ```python
    pool = keras_dfkd.replay.ImagePool(
        capacity=50_000, image_shape=(32, 32, 3), seed=0
    )
    pool.add(generator(noise))          # images in [0, 1]
    x = pool.sample(256)                # float32, from written slots
    student_loss = kd_loss(teacher(x), student(x))
    ```

    Reference:
        - [Tran et al., 2024. NAYER: Noisy Layer Data Generation for Efficient
          and Effective Data-free Knowledge
          Distillation](https://arxiv.org/abs/2310.00258)
        - [Vitter, 1985. Random Sampling with a
          Reservoir](https://doi.org/10.1145/3147.3165)
    """

    def __init__(
        self,
        capacity,
        image_shape,
        storage_dtype="uint8",
        policy="ring",
        value_range=(0.0, 1.0),
        seed=None,
        **kwargs,
    ):
        if not _is_int(capacity) or capacity < 1:
            raise ValueError(
                "`capacity` must be a positive int. "
                f"Received: capacity={capacity}"
            )
        if isinstance(image_shape, numbers.Integral):
            image_shape = (image_shape,)
        try:
            image_shape = tuple(image_shape)
        except TypeError:
            image_shape = None
        if (
            not image_shape
            or not all(_is_int(d) for d in image_shape)
            or min(image_shape) < 1
        ):
            raise ValueError(
                "`image_shape` must be a non-empty tuple of positive ints, "
                "such as (32, 32, 3). "
                f"Received: image_shape={image_shape}"
            )
        if storage_dtype not in _STORAGE_ITEMSIZE:
            raise ValueError(
                "`storage_dtype` must be one of "
                f"{sorted(_STORAGE_ITEMSIZE)}. "
                f"Received: storage_dtype={storage_dtype}"
            )
        if policy not in _POLICIES:
            raise ValueError(
                f"`policy` must be one of {_POLICIES}. "
                f"Received: policy={policy}"
            )
        try:
            low, high = value_range
        except (TypeError, ValueError):
            low = high = None
        if (
            not _is_real(low)
            or not _is_real(high)
            or not math.isfinite(low)
            or not math.isfinite(high)
            or not low < high
        ):
            raise ValueError(
                "`value_range` must be a pair of finite floats (low, high) "
                f"with low < high. Received: value_range={value_range}"
            )
        if seed is not None and not _is_int(seed):
            raise ValueError(
                f"`seed` must be an int or None. Received: seed={seed}"
            )
        super().__init__(**kwargs)
        self.capacity = int(capacity)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.storage_dtype = storage_dtype
        self.policy = policy
        self.value_range = (float(low), float(high))
        self.seed = None if seed is None else int(seed)

        if storage_dtype == "uint8":
            initializer = "zeros"  # decodes to `low`
        else:
            initializer = keras.initializers.Constant(self.value_range[0])
        self.images = self.add_weight(
            shape=(self.capacity,) + self.image_shape,
            initializer=initializer,
            dtype=storage_dtype,
            trainable=False,
            autocast=False,
            name="images",
        )
        self.seen = self.add_weight(
            shape=(),
            initializer="zeros",
            dtype="int32",
            trainable=False,
            autocast=False,
            name="seen",
        )
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.built = True

    @property
    def memory_bytes(self):
        """Python int, the size in bytes of the `images` variable."""
        return (
            self.capacity
            * math.prod(self.image_shape)
            * _STORAGE_ITEMSIZE[self.storage_dtype]
        )

    def size(self):
        """Returns the number of filled slots, `min(seen, capacity)`.

        Returns:
            A scalar `int32` tensor.
        """
        return ops.minimum(ops.convert_to_tensor(self.seen), self.capacity)

    def _encode(self, images):
        images = ops.cast(images, "float32")
        if self.storage_dtype != "uint8":
            return ops.cast(images, self.storage_dtype)
        low, high = self.value_range
        scaled = (images - low) * (255.0 / (high - low))
        scaled = ops.clip(ops.floor(scaled + 0.5), 0.0, 255.0)
        return ops.cast(scaled, "uint8")

    def _decode(self, stored):
        stored = ops.cast(stored, "float32")
        if self.storage_dtype != "uint8":
            return stored
        low, high = self.value_range
        return stored * ((high - low) / 255.0) + low

    def _check_images(self, images):
        shape = tuple(images.shape)
        expected = (None,) + self.image_shape
        if len(shape) != len(expected) or any(
            d is not None and d != e for d, e in zip(shape[1:], expected[1:])
        ):
            raise ValueError(
                f"`images` must have shape (batch_size, *{self.image_shape}) "
                f"for this pool. Received shape {shape}."
            )

    def add(self, images):
        """Writes a batch of images into the pool.

        Image `j` of the batch is image number `n = seen + j`. With
        `policy="ring"` it goes to slot `n % capacity`. With
        `policy="reservoir"` it goes to slot `n` while `n < capacity`, and
        afterwards replaces a uniformly random slot with probability
        `capacity / (n + 1)` (it is dropped otherwise). The batch may be
        larger than `capacity`; when two images of a batch land in the same
        slot, the later one is kept. Then `seen` grows by the batch size.
        No gradient flows through the write.

        Args:
            images: float tensor of shape `(batch_size, *image_shape)` with
                values in `value_range`.
        """
        images = ops.stop_gradient(ops.convert_to_tensor(images))
        self._check_images(images)
        static_batch = images.shape[0]
        batch_size = ops.shape(images)[0]
        encoded = self._encode(images)
        seen = ops.convert_to_tensor(self.seen)
        positions = seen + ops.arange(batch_size, dtype="int32")
        if self.policy == "ring":
            slots = ops.mod(positions, self.capacity)
            if static_batch is not None and static_batch <= self.capacity:
                # Distinct slots: a plain scatter is exact.
                self._scatter(slots, encoded)
            else:
                self._write(encoded, slots, keep=None)
        else:
            uniform = keras.random.uniform(
                (batch_size,), seed=self.seed_generator
            )
            # Algorithm R: r ~ U{0..n} replaces slot r if r < capacity, i.e.
            # with probability capacity / (n + 1) a uniform slot.
            accept = uniform * ops.cast(positions + 1, "float32") < float(
                self.capacity
            )
            random_slots = keras.random.randint(
                (batch_size,),
                minval=0,
                maxval=self.capacity,
                dtype="int32",
                seed=self.seed_generator,
            )
            filling = positions < self.capacity
            slots = ops.where(filling, positions, random_slots)
            keep = ops.logical_or(filling, accept)
            self._write(encoded, slots, keep=keep)
        self.seen.assign(seen + ops.cast(batch_size, "int32"))

    def _write(self, encoded, slots, keep):
        """Scatters `encoded[j]` to `slots[j]`, the last kept `j` winning.

        Backends leave the winner of duplicate scatter indices unspecified,
        so every row first takes the final value of its target slot (the
        last kept image for that slot, else the slot's current content),
        which makes all writes to one slot identical. Dropped rows target
        slot 0 with its final value.
        """
        batch_size = ops.shape(slots)[0]
        order = ops.arange(batch_size, dtype="int32")
        if keep is None:
            segments = slots
            targets = slots
        else:
            segments = ops.where(keep, slots, self.capacity)
            targets = ops.where(keep, slots, 0)
        # Empty segments hold the smallest int32, so `last < 0` there.
        last = ops.segment_max(order, segments, num_segments=self.capacity + 1)
        winner = ops.take(last, targets, axis=0)
        new_rows = ops.take(encoded, ops.maximum(winner, 0), axis=0)
        old_rows = self._gather(targets)
        has_winner = ops.reshape(
            winner >= 0, (-1,) + (1,) * len(self.image_shape)
        )
        rows = ops.where(has_winner, new_rows, old_rows)
        self._scatter(targets, rows)

    def _gather(self, slots):
        """Returns `images[slots]` (a gather: the pool is never copied)."""
        return backend.gather_rows(self.images, slots)

    def _scatter(self, slots, rows):
        """Sets `images[slots[j]] = rows[j]` (in place on TensorFlow)."""
        backend.scatter_rows(self.images, slots, rows)

    def sample(self, batch_size):
        """Draws images uniformly, with replacement, from the filled slots.

        Slots are drawn from `[0, min(seen, capacity))`, so only written
        images are returned. Sampling an empty pool is well defined: it
        returns copies of slot 0, filled with `value_range[0]`.

        Args:
            batch_size: non-negative int, the number of images to draw.

        Returns:
            A `float32` tensor of shape `(batch_size, *image_shape)` with
            values in `value_range`.
        """
        if not _is_int(batch_size) or batch_size < 0:
            raise ValueError(
                "`batch_size` must be a non-negative int. "
                f"Received: batch_size={batch_size}"
            )
        size = self.size()
        indices = keras.random.randint(
            (int(batch_size),),
            minval=0,
            maxval=ops.maximum(size, 1),
            dtype="int32",
            seed=self.seed_generator,
        )
        return self._decode(self._gather(indices))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "capacity": self.capacity,
                "image_shape": self.image_shape,
                "storage_dtype": self.storage_dtype,
                "policy": self.policy,
                "value_range": self.value_range,
                "seed": self.seed,
            }
        )
        return config
