"""The `keras_dfkd_export` decorator: a public name plus Keras registration."""

#: `{public name: symbol}` of everything marked with `keras_dfkd_export`:
#: the public API, which `tests/test_public_api.py` holds the package's
#: `__init__` files to.
EXPORTS = {}


def keras_dfkd_export(path):
    """Marks a class or function as public API and registers it.

    The class becomes serializable as `"keras_dfkd>ClassName"`, so objects
    that use it round-trip through `.keras` files without `custom_objects`.

    Args:
        path: str or list of str. The public name(s), e.g.
            `"keras_dfkd.losses.BatchNormStatisticsLoss"`, recorded in
            `EXPORTS`. The package `__init__` files import the symbol
            there and list it in `__all__`; a test checks both ways.
    """
    paths = [path] if isinstance(path, str) else list(path)

    def decorator(symbol):
        # Like keras-hub, register only what Keras can serialize.
        if hasattr(symbol, "get_config"):
            # Imported here: `keras_dfkd.datasets` loads without Keras.
            import keras

            register = keras.saving.register_keras_serializable
            symbol = register(package="keras_dfkd")(symbol)
        for name in paths:
            if EXPORTS.get(name, symbol) is not symbol:
                raise ValueError(f"Two symbols are exported as {name!r}.")
            EXPORTS[name] = symbol
        return symbol

    return decorator
