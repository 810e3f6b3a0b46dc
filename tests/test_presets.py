"""Every preset, from the one home of the settings (`keras_dfkd.presets`)."""

import pytest

import keras_dfkd
from keras_dfkd.methods import _METHODS
from keras_dfkd.presets import PRESETS

ALL = sorted(
    (name, method) for method, presets in PRESETS.items() for name in presets
)


@pytest.mark.parametrize("name, method", ALL)
def test_every_preset_builds_its_method(name, method):
    key = next(k for k, cls in _METHODS.items() if cls.__name__ == method)
    assert name.startswith(f"{key}_")
    extra = {"label_embeddings": "one_hot"} if method == "NAYER" else {}
    built = keras_dfkd.methods.from_preset(name, **extra)
    assert type(built).__name__ == method
    config = built.get_config()
    for argument, value in PRESETS[method][name].items():
        assert config[argument] == value, argument
    # The class reads the same settings.
    assert type(built).presets is PRESETS[method]


def test_every_method_has_a_paper_and_a_cpu_preset():
    for method, presets in PRESETS.items():
        kinds = {name.rsplit("_", 1)[-1] for name in presets}
        assert "cpu" in kinds, method
        assert len(presets) >= 2, method


def test_overrides_win_and_unknown_presets_are_named():
    method = keras_dfkd.methods.from_preset("dfad_cpu", batch_size=64)
    assert method.batch_size == 64
    with pytest.raises(ValueError, match="Unknown preset 'dfad_gpu'"):
        keras_dfkd.presets.find("dfad_gpu")
    with pytest.raises(ValueError, match="has no preset 'nayer_cpu'"):
        keras_dfkd.methods.DFAD.from_preset("nayer_cpu")
