"""The export decorator is the single source of the public API."""

import importlib
import inspect

import keras_dfkd
from keras_dfkd.api_export import EXPORTS


def resolve(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def public_symbols():
    """`{path: symbol}` of the classes and functions in each `__all__`."""
    found = {}
    packages = [keras_dfkd] + [
        getattr(keras_dfkd, name)
        for name in keras_dfkd.__all__
        if inspect.ismodule(getattr(keras_dfkd, name))
    ]
    for package in packages:
        for name in getattr(package, "__all__", ()):
            symbol = getattr(package, name)
            if inspect.isclass(symbol) or inspect.isfunction(symbol):
                found[f"{package.__name__}.{name}"] = symbol
    return found


def test_every_export_is_importable_where_it_says():
    assert len(EXPORTS) > 40
    for path, symbol in EXPORTS.items():
        assert resolve(path) is symbol, path


def test_every_public_name_is_exported():
    public = public_symbols()
    missing = sorted(set(public) - set(EXPORTS))
    assert not missing, f"in an __all__ but not keras_dfkd_export-ed: {missing}"
    unlisted = sorted(set(EXPORTS) - set(public))
    assert not unlisted, f"exported but in no __all__: {unlisted}"
    for path, symbol in public.items():
        assert EXPORTS[path] is symbol, path
