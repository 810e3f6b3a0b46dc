"""Data-free distillation methods."""

from keras_dfkd import presets
from keras_dfkd.api_export import keras_dfkd_export
from keras_dfkd.methods.bn_statistics import BNStatistics
from keras_dfkd.methods.cmi import CMI
from keras_dfkd.methods.dafl import DAFL
from keras_dfkd.methods.deep_inversion import DeepInversion
from keras_dfkd.methods.dfad import DFAD
from keras_dfkd.methods.fast import Fast
from keras_dfkd.methods.large_scale import LargeScale
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.nayer import NAYER
from keras_dfkd.methods.phase import Phase
from keras_dfkd.methods.pooled_synthesis import PooledSynthesis
from keras_dfkd.methods.pre_dfkd import PreDFKD

_METHODS = {
    "dafl": DAFL,
    "dfad": DFAD,
    "bn_statistics": BNStatistics,
    "nayer": NAYER,
    "pre_dfkd": PreDFKD,
    "large_scale": LargeScale,
    "deep_inversion": DeepInversion,
    "fast": Fast,
    "cmi": CMI,
}


@keras_dfkd_export("keras_dfkd.methods.get")
def get(name, **kwargs):
    """Returns a method by name, e.g. `get("dfad", batch_size=256)`.

    A `Method` instance is returned as it is (like `keras.optimizers.get`).
    """
    if isinstance(name, Method):
        if kwargs:
            raise ValueError(
                "methods.get() got a Method instance and arguments "
                f"{sorted(kwargs)}; pass the arguments to the constructor."
            )
        return name
    if not isinstance(name, str):
        raise TypeError(
            "methods.get() takes a method name or a Method; received "
            f"{type(name).__name__}."
        )
    try:
        cls = _METHODS[name.lower()]
    except KeyError:
        raise ValueError(
            f"Unknown method {name!r}; available: {sorted(_METHODS)}."
        ) from None
    return cls(**kwargs)


@keras_dfkd_export("keras_dfkd.methods.from_preset")
def from_preset(preset, **overrides):
    """A method from a preset name of any method, e.g. `"nayer_cpu"`.

    Args:
        preset: str, a key of some method's `presets`.
        **overrides: constructor arguments on top of the preset's.

    Returns:
        A new `Method`.
    """
    method, _ = presets.find(preset)
    cls = next(c for c in _METHODS.values() if c.__name__ == method)
    return cls.from_preset(preset, **overrides)


__all__ = [
    "BNStatistics",
    "CMI",
    "DAFL",
    "DFAD",
    "DeepInversion",
    "Fast",
    "LargeScale",
    "Method",
    "NAYER",
    "Phase",
    "PooledSynthesis",
    "PreDFKD",
    "from_preset",
    "get",
]
