"""CMI: the feature bank, the contrastive term, the local view, the round."""

import keras
import numpy as np
import pytest

import keras_dfkd
from keras_dfkd.layers import DifferentiableResizedCrop
from keras_dfkd.layers import FeatureBank
from keras_dfkd.methods.cmi import contrastive_objective
from keras_dfkd.methods.cmi import instance_means
from keras_dfkd.testing import tiny_distiller
from keras_dfkd.testing import to_numpy


def test_feature_bank_is_a_bounded_ring_and_samples_distinct_rows():
    bank = FeatureBank(capacity=5, dim=2, seed=0)
    bank.build()
    rows, valid = bank.sample(3)
    assert to_numpy(rows).shape == (3, 2) and not to_numpy(valid).any()
    bank.add(np.array([[1, 1], [2, 2]], "float32"))
    rows, valid = bank.sample(3)
    valid = to_numpy(valid)
    assert valid.sum() == 2  # Only the written rows.
    assert sorted(to_numpy(rows)[valid][:, 0]) == [1.0, 2.0]
    bank.add(np.array([[3, 3], [4, 4], [5, 5], [6, 6]], "float32"))
    # Six rows into five: the sixth overwrote the first.
    np.testing.assert_array_equal(
        to_numpy(bank.features)[:, 0], [6, 2, 3, 4, 5]
    )
    assert int(to_numpy(bank.filled)) == 5
    assert int(to_numpy(bank.position)) == 1
    rows, valid = bank.sample(5)
    assert to_numpy(valid).all()
    assert sorted(to_numpy(rows)[:, 0]) == [2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match="distinct rows"):
        bank.sample(6)


def test_contrastive_objective_matches_numpy():
    rng = np.random.default_rng(0)
    local, global_ = rng.normal(size=(2, 3, 4)).astype("float32")
    bank_local, bank_global = rng.normal(size=(2, 5, 4)).astype("float32")
    valid = np.array([True, True, False, True, False])
    head = keras.layers.UnitNormalization()
    loss = contrastive_objective(
        local, global_, bank_local, bank_global, valid, head, 0.2
    )

    def normalise(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    keep = np.concatenate([np.ones(3, bool), valid])
    q = normalise(np.concatenate([local, bank_local]))[keep]
    k = normalise(np.concatenate([global_, bank_global]))[keep]
    logits = q @ k.T / 0.2
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    per_row = -np.diag(log_softmax)
    expected = per_row[:3].mean() + per_row[3:].mean()
    np.testing.assert_allclose(to_numpy(loss), expected, rtol=1e-5)
    # An empty bank: the new rows alone.
    empty = contrastive_objective(
        local, global_, bank_local, bank_global, np.zeros(5, bool), head, 0.2
    )
    logits = normalise(local) @ normalise(global_).T / 0.2
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(
        to_numpy(empty), -np.diag(log_softmax).mean(), rtol=1e-5
    )


def test_instance_means_of_maps_and_vectors():
    maps = np.arange(2 * 2 * 2 * 3, dtype="float32").reshape(2, 2, 2, 3)
    vectors = np.ones((2, 4), "float32")
    means = to_numpy(instance_means([maps, vectors]))
    np.testing.assert_allclose(means[:, :3], maps.mean(axis=(1, 2)))
    np.testing.assert_allclose(means[:, 3:], 1.0)


def test_resized_crop_is_a_bilinear_zoom():
    ramp = np.tile(np.arange(16, dtype="float32"), (4, 16, 1))[..., None]
    whole = DifferentiableResizedCrop(
        scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False
    )
    np.testing.assert_allclose(to_numpy(whole(ramp)), ramp, atol=1e-5)
    # A box of a quarter of the area, square: half the width, zoomed 2x.
    zoom = DifferentiableResizedCrop(
        scale=(0.25, 0.25), ratio=(1.0, 1.0), flip=False, seed=1
    )
    out = to_numpy(zoom(ramp))
    steps = np.diff(out[:, 0, 1:-1, 0], axis=1)
    np.testing.assert_allclose(steps, 0.5, atol=1e-4)
    assert out.min() >= 0.0 and out.max() <= 15.0
    flipped = DifferentiableResizedCrop(
        scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=True, seed=0
    )(np.repeat(ramp, 8, axis=0))
    rows = to_numpy(flipped)[:, 0, :, 0]
    mirrored = np.all(rows == ramp[0, 0, ::-1, 0], axis=1)
    kept = np.all(rows == ramp[0, 0, :, 0], axis=1)
    assert np.all(mirrored | kept) and mirrored.any() and kept.any()
    config = zoom.get_config()
    assert DifferentiableResizedCrop.from_config(config).get_config() == config


def test_each_round_restarts_the_generator_and_fills_the_bank():
    distiller = tiny_distiller("cmi")
    distiller.compile()
    method = distiller.method
    distiller.fit(steps=2, verbose=0)
    optimizers = distiller.optimizers
    assert int(to_numpy(optimizers["generator"].iterations)) == 2
    assert int(to_numpy(optimizers["head"].iterations)) == 4  # Kept.
    assert int(to_numpy(optimizers["student"].iterations)) == 2
    # Re-initialised before the batch, then two Adam steps of 1e-3.
    kernels = [
        to_numpy(v)
        for v in method.generator.trainable_variables
        if "kernel" in v.path
    ]
    for kernel in kernels:
        assert 0.012 < kernel.std() < 0.03, kernel.std()
    assert int(to_numpy(method.bank.filled)) == 20
    np.testing.assert_allclose(
        to_numpy(method.bank.features)[10:20],
        to_numpy(method.best_features.images),
    )
    labels = to_numpy(method.labels)
    np.testing.assert_array_equal(labels, np.sort(labels))


def test_config_round_trip_and_bad_arguments():
    method = keras_dfkd.methods.get("cmi", generator_steps=3)
    config = method.get_config()
    assert keras_dfkd.methods.CMI(**config).get_config() == config
    with pytest.raises(ValueError, match="at most `bank_size`"):
        keras_dfkd.methods.CMI(bank_size=10, negatives=20)
    with pytest.raises(ValueError, match="contrastive_temperature"):
        keras_dfkd.methods.CMI(contrastive_temperature=0.0)
