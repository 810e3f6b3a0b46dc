"""`InputRange`: where the teacher's input images live."""

import numbers

import numpy as np
from keras import ops

from keras_dfkd.api_export import keras_dfkd_export

#: Epsilon of the per-batch standardisation of the `"standardized"` range.
STANDARDIZE_EPSILON = 1e-5


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _as_values(name, value):
    """A float or a tuple of floats (one per channel), checked finite."""
    if _is_number(value):
        values = (float(value),)
        scalar = True
    else:
        try:
            values = tuple(float(v) for v in np.asarray(value).reshape(-1))
        except (TypeError, ValueError):
            raise ValueError(
                f"`{name}` must be a number or one number per channel; "
                f"received {value!r}."
            ) from None
        scalar = False
    if not values or not all(np.isfinite(values)):
        raise ValueError(
            f"`{name}` must be finite numbers; received {value!r}."
        )
    return values[0] if scalar else values


def _round(value):
    """Drops float noise (e.g. 254.99999) from detected bounds."""
    if isinstance(value, tuple):
        return tuple(_round(v) for v in value)
    return float(f"{value:.6g}")


@keras_dfkd_export("keras_dfkd.InputRange")
class InputRange:
    """The domain of the teacher's input images: what it was trained on.

    Every method's generator makes images in this domain, so the teacher
    sees inputs like its training data. A domain is either

    - **pixels in a range, optionally standardised per channel**: the
      teacher takes `x = (p - mean) / std` for pixels `p` in `[low, high]`.
      `InputRange(0, 1)`, `InputRange(-1, 1)` and `InputRange(0, 255)` are
      plain ranges; `InputRange(mean=(0.2860,), std=(0.3530,))` is the
      usual per-channel standardisation of pixels in [0, 1]; or
    - **`InputRange.standardized()`**: the teacher was trained on images
      standardised per channel with statistics nobody recorded. Generators
      then standardise each synthetic batch (mean 0, std 1 per channel),
      the DAFL/DFAD convention. This is `DataFreeDistiller`'s default when
      neither the user nor the teacher says otherwise.

    Generators make pixels `u` in [0, 1] and map them with

    ```python
    x_c = (low_c + (high_c - low_c) * u_c - mean_c) / std_c
    ```

    (`scale_and_offset` gives the per-channel `x = scale * u + offset`).

    `InputRange.get` accepts what users write: `(0, 1)`, `(-1, 1)`,
    `(0, 255)`, `((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))`
    (per-channel mean and std of pixels in [0, 1]), `"standardized"`, a
    config dict, or an `InputRange`.

    Args:
        low: float or one float per channel. Lowest pixel value. Defaults
            to `0.0`.
        high: float or one float per channel. Highest pixel value.
            Defaults to `1.0`.
        mean: float or one float per channel, subtracted from the pixels.
            Defaults to `0.0`.
        std: float or one float per channel (positive), dividing the
            pixels after `mean`. Defaults to `1.0`.

    Example:

    >>> keras_dfkd.InputRange.get((0, 255))
    InputRange(low=0.0, high=255.0)
    >>> keras_dfkd.InputRange.get(((0.1307,), (0.3081,)))
    InputRange(low=0.0, high=1.0, mean=(0.1307,), std=(0.3081,))
    """

    def __init__(self, low=0.0, high=1.0, mean=0.0, std=1.0):
        self.low = _as_values("low", low)
        self.high = _as_values("high", high)
        self.mean = _as_values("mean", mean)
        self.std = _as_values("std", std)
        self._standardized = False
        low_b, high_b = np.broadcast_arrays(
            np.asarray(self.low), np.asarray(self.high)
        )
        if np.any(low_b >= high_b):
            raise ValueError(
                f"`low` must be below `high`; received low={low!r}, "
                f"high={high!r}."
            )
        if np.any(np.asarray(self.std) <= 0):
            raise ValueError(f"`std` must be positive; received {std!r}.")
        self.channels()  # Checks that the per-channel lengths agree.

    @classmethod
    def standardized(cls):
        """The default domain: per-channel standardised, statistics unknown.

        Returns:
            An `InputRange` whose generators standardise every batch.
        """
        instance = cls()
        instance._standardized = True
        return instance

    @classmethod
    def get(cls, value):
        """An `InputRange` from what a user passes, or `None` for `None`.

        Args:
            value: `None`, an `InputRange`, `"standardized"`, a pair of
                numbers `(low, high)`, a pair of per-channel sequences
                `(mean, std)` of pixels in [0, 1], or a config dict.

        Returns:
            An `InputRange`, or `None`.
        """
        if value is None or isinstance(value, InputRange):
            return value
        if isinstance(value, str):
            if value == "standardized":
                return cls.standardized()
            raise ValueError(f"Unknown input range {value!r}. " + _FORMS_HELP)
        if isinstance(value, dict):
            if "config" in value and "class_name" in value:
                value = value["config"]
            return cls.from_config(value)
        if isinstance(value, (tuple, list)) and len(value) == 2:
            first, second = value
            if _is_number(first) and _is_number(second):
                return cls(low=first, high=second)
            if not _is_number(first) and not _is_number(second):
                return cls(mean=first, std=second)
        raise ValueError(f"Cannot read input_range={value!r}. " + _FORMS_HELP)

    @property
    def is_standardized(self):
        """Whether this is the batch-standardised default domain."""
        return self._standardized

    def channels(self):
        """The channel count fixed by per-channel values, or `None`."""
        # One-element tuples broadcast like scalars.
        counts = {
            len(v)
            for v in (self.low, self.high, self.mean, self.std)
            if isinstance(v, tuple) and len(v) > 1
        }
        if len(counts) > 1:
            raise ValueError(
                "The per-channel values of the input range disagree on the "
                f"number of channels: low={self.low}, high={self.high}, "
                f"mean={self.mean}, std={self.std}."
            )
        return counts.pop() if counts else None

    def check_channels(self, channels):
        """Raises unless per-channel values fit `channels` channels."""
        own = self.channels()
        if own not in (None, 1, channels):
            raise ValueError(
                f"The input range {self} has {own} per-channel values but "
                f"the teacher's images have {channels} channels."
            )

    def scale_and_offset(self, channels):
        """`(scale, offset)`, float32 `(channels,)`: `x = scale * u + offset`.

        Raises for the standardized domain, which depends on the batch.
        """
        if self._standardized:
            raise ValueError(
                "The standardized input range standardises each batch; it "
                "has no fixed scale and offset."
            )
        self.check_channels(channels)

        def per_channel(v):
            return np.broadcast_to(np.asarray(v, "float32"), (channels,))

        low, high = per_channel(self.low), per_channel(self.high)
        mean, std = per_channel(self.mean), per_channel(self.std)
        return (high - low) / std, (low - mean) / std

    def bounds(self, channels):
        """`(lowest, highest)` teacher inputs per channel (known domains)."""
        scale, offset = self.scale_and_offset(channels)
        return offset, offset + scale

    def from_pixels(self, pixels):
        """Maps pixels in [0, 1], `(N, H, W, C)`, into this domain.

        The standardized domain standardises the batch per channel.
        """
        channels = pixels.shape[-1]
        if self._standardized:
            pixels = ops.cast(pixels, "float32")
            axes = tuple(range(len(pixels.shape) - 1))
            mean, variance = ops.moments(pixels, axes=axes, keepdims=True)
            return (pixels - mean) * ops.rsqrt(variance + STANDARDIZE_EPSILON)
        scale, offset = self.scale_and_offset(channels)
        return pixels * ops.cast(scale, pixels.dtype) + ops.cast(
            offset, pixels.dtype
        )

    def pixel_units(self, images):
        """Images in units comparable across domains (tensor ops).

        Known domains: pixels scaled to [-1, 1] (tanh units), so a
        pixel-space loss weighs the same whether the teacher takes
        [0, 1] or [0, 255]. The standardized domain is already in
        standard units and is returned unchanged.
        """
        if self._standardized:
            return images
        scale, offset = self.scale_and_offset(images.shape[-1])
        scale = ops.cast(scale, images.dtype)
        offset = ops.cast(offset, images.dtype)
        return (images - offset) * (2.0 / scale) - 1.0

    def to_pixels(self, images):
        """Numpy pixels in [0, 1] for display, from images in this domain.

        The standardized domain has no fixed inverse: each image is
        min-max scaled instead.
        """
        images = np.asarray(ops.convert_to_numpy(images), "float32")
        if self._standardized:
            axes = tuple(range(1, images.ndim))
            low = images.min(axis=axes, keepdims=True)
            high = images.max(axis=axes, keepdims=True)
            return (images - low) / np.maximum(high - low, 1e-8)
        scale, offset = self.scale_and_offset(images.shape[-1])
        return np.clip((images - offset) / scale, 0.0, 1.0)

    def get_config(self):
        if self._standardized:
            return {"standardized": True}
        return {
            "low": self.low,
            "high": self.high,
            "mean": self.mean,
            "std": self.std,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.pop("standardized", False):
            return cls.standardized()
        return cls(**config)

    def __eq__(self, other):
        return (
            isinstance(other, InputRange)
            and self.get_config() == other.get_config()
        )

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        if self._standardized:
            return "InputRange.standardized()"
        text = f"InputRange(low={self.low}, high={self.high}"
        if self.mean != 0.0 or self.std != 1.0:
            text += f", mean={self.mean}, std={self.std}"
        return text + ")"


_FORMS_HELP = (
    "Pass the range of pixels the teacher was trained on, e.g. "
    "input_range=(0, 1), (-1, 1) or (0, 255); a per-channel "
    "standardisation of [0, 1] pixels as ((mean_1, ...), (std_1, ...)); "
    "'standardized' for images standardised with unknown statistics; or "
    "keras_dfkd.InputRange(low, high, mean, std)."
)
