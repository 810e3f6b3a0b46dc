"""Constructor arguments: checked, stored and read back by `get_config`."""

import pytest

import keras_dfkd
from keras_dfkd.methods import Phase
from keras_dfkd.utils.arguments import store_arguments


class Owner:
    def __init__(self, steps=1, warmup=0, life=None, temperature=1.0):
        store_arguments(
            self,
            locals(),
            positive=("steps", "life"),
            non_negative=("warmup",),
        )


def test_every_argument_is_stored():
    owner = Owner(steps=3, warmup=2, life=5)
    assert (owner.steps, owner.warmup, owner.life) == (3, 2, 5)
    assert owner.temperature == 1.0
    assert not hasattr(owner, "self")


@pytest.mark.parametrize(
    "arguments, match",
    [
        (dict(steps=0), "`steps` must be an int >= 1"),
        (dict(steps=2.0), "`steps` must be an int >= 1"),
        (dict(steps=True), "`steps` must be an int >= 1"),
        (dict(warmup=-1), "`warmup` must be an int >= 0"),
        (dict(life=0), "`life` must be an int >= 1"),
        (dict(temperature=0.0), "`temperature` must be a number > 0"),
    ],
)
def test_bad_arguments_are_named(arguments, match):
    with pytest.raises(ValueError, match=match):
        Owner(**arguments)


def test_none_only_where_it_is_the_default():
    assert Owner(life=None).life is None
    with pytest.raises(ValueError, match="`steps`"):
        Owner(steps=None)


def test_none_where_the_docstring_offers_it():
    # NAYER's `generator_life=None` (never re-initialise) is not its default.
    nayer = keras_dfkd.methods.NAYER(
        label_embeddings="one_hot", generator_life=None
    )
    assert nayer.get_config()["generator_life"] is None
    with pytest.raises(ValueError, match="`generator_life`"):
        keras_dfkd.methods.NAYER(label_embeddings="one_hot", generator_life=0)


def test_method_config_round_trips_every_argument():
    method = keras_dfkd.methods.DFAD(batch_size=16, student_steps=3, seed=4)
    config = method.get_config()
    assert config["student_steps"] == 3 and config["seed"] == 4
    clone = keras_dfkd.methods.DFAD.from_config(config)
    assert clone.get_config() == config


def test_log_names_are_the_phases_logs_and_gauges():
    method = keras_dfkd.methods.NAYER(label_embeddings="one_hot")
    phases = method.phases
    assert [p.name for p in phases] == ["generator", "student"]
    assert method.gauge_names == ["pool_images", "pool_bytes"]
    assert method.log_names == [
        "batch_norm",
        "one_hot",
        "adversarial",
        "generator_loss",
        "best_loss",
        "pool_images",
        "pool_bytes",
        "student_loss",
        "agreement",
    ]


def test_phase_logs_are_tuples_of_names():
    phase = Phase("p", ("student",), lambda s: (0.0, {}), logs=["a", "b"])
    assert phase.logs == ("a", "b")
    with pytest.raises(ValueError, match="`logs`"):
        Phase("p", ("student",), lambda s: (0.0, {}), logs="ab")


def test_phase_resets_some_of_its_groups():
    phase = Phase(
        "p",
        ("generator", "head"),
        lambda s: (0.0, {}),
        reset_optimizer=["generator"],
    )
    assert phase.reset_optimizer == ("generator",)
    with pytest.raises(ValueError, match=r"names groups \['student'\]"):
        Phase(
            "p",
            ("generator",),
            lambda s: (0.0, {}),
            reset_optimizer=("student",),
        )


def test_loss_weights_must_not_be_negative():
    with pytest.raises(
        ValueError, match="`entropy_weight` must be a number >= 0"
    ):
        keras_dfkd.methods.DAFL(entropy_weight=-1.0)
    keras_dfkd.methods.DAFL(activation_weight=0.0)  # A term left out.
