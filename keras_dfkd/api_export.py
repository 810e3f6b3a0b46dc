"""The `keras_dfkd_export` decorator: a public name plus Keras registration."""

import keras


def keras_dfkd_export(path):
    """Marks a class or function as public API and registers it.

    The class becomes serializable as `"keras_dfkd>ClassName"`, so objects
    that use it round-trip through `.keras` files without `custom_objects`.

    Args:
        path: str or list of str. The public name(s), e.g.
            `"keras_dfkd.losses.BatchNormStatisticsLoss"`. Kept for
            documentation; the import path is defined by the package
            `__init__` files.
    """
    del path

    def decorator(symbol):
        # Like keras-hub, register only what Keras can serialize.
        if hasattr(symbol, "get_config"):
            register = keras.saving.register_keras_serializable
            symbol = register(package="keras_dfkd")(symbol)
        return symbol

    return decorator
