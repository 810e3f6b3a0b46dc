"""Data-free distillation methods."""

from keras_dfkd.methods.bn_statistics import BNStatistics
from keras_dfkd.methods.dafl import DAFL
from keras_dfkd.methods.dfad import DFAD
from keras_dfkd.methods.large_scale import LargeScale
from keras_dfkd.methods.method import Method
from keras_dfkd.methods.method import Phase
from keras_dfkd.methods.nayer import NAYER
from keras_dfkd.methods.pre_dfkd import PreDFKD

_METHODS = {
    "dafl": DAFL,
    "dfad": DFAD,
    "bn_statistics": BNStatistics,
    "nayer": NAYER,
    "pre_dfkd": PreDFKD,
    "large_scale": LargeScale,
}


def get(name, **kwargs):
    """Returns a method by name, e.g. `get("dfad", batch_size=256)`."""
    try:
        cls = _METHODS[name.lower()]
    except KeyError:
        raise ValueError(
            f"Unknown method {name!r}; available: {sorted(_METHODS)}."
        ) from None
    return cls(**kwargs)


__all__ = [
    "BNStatistics",
    "DAFL",
    "DFAD",
    "LargeScale",
    "Method",
    "NAYER",
    "Phase",
    "PreDFKD",
    "get",
]
