"""Tests for `keras_dfkd.replay.ImagePool`."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_dfkd
from keras_dfkd.replay import ImagePool
from keras_dfkd.testing import to_numpy

HALF_STEP = 0.5 / 255.0 + 1e-6


def indexed_images(start, stop, shape=(2, 2, 1)):
    """Images whose pixels all equal their index, as float32."""
    values = np.arange(start, stop, dtype=np.float32)
    return np.broadcast_to(
        values.reshape((-1,) + (1,) * len(shape)), (len(values),) + shape
    ).copy()


def stored_indices(pool):
    """The index held by every slot of a pool filled by `indexed_images`."""
    images = to_numpy(pool.images).astype(np.float32)
    return images.reshape(pool.capacity, -1)[:, 0]


def test_public_name_and_initial_state():
    assert keras_dfkd.replay.ImagePool is ImagePool
    pool = ImagePool(4, (3, 3, 2))
    assert pool.built
    assert tuple(pool.images.shape) == (4, 3, 3, 2)
    assert keras.backend.standardize_dtype(pool.images.dtype) == "uint8"
    assert keras.backend.standardize_dtype(pool.seen.dtype) == "int32"
    assert not pool.images.trainable and not pool.seen.trainable
    assert pool.trainable_variables == []
    assert int(to_numpy(pool.seen)) == 0
    assert int(to_numpy(pool.size())) == 0


def test_ring_order_and_wrap_around_float32():
    pool = ImagePool(5, (2, 2, 1), storage_dtype="float32")
    pool.add(indexed_images(0, 3))
    np.testing.assert_array_equal(stored_indices(pool)[:3], [0, 1, 2])
    assert int(to_numpy(pool.size())) == 3
    pool.add(indexed_images(3, 7))  # wraps: 5, 6 overwrite slots 0, 1
    np.testing.assert_array_equal(stored_indices(pool), [5, 6, 2, 3, 4])
    assert int(to_numpy(pool.seen)) == 7
    assert int(to_numpy(pool.size())) == 5
    # A batch larger than the pool keeps its last `capacity` images, each
    # in the slot the sequential ring gives it.
    pool.add(indexed_images(7, 20))
    expected = np.zeros(5)
    for n in range(20):
        expected[n % 5] = n
    np.testing.assert_array_equal(stored_indices(pool), expected)
    np.testing.assert_array_equal(
        to_numpy(pool.images), indexed_images(0, 20)[[15, 16, 17, 18, 19]]
    )
    assert int(to_numpy(pool.seen)) == 20


def test_ring_uint8_quantization():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, size=(6, 4, 4, 3)).astype(np.float32)
    pool = ImagePool(4, (4, 4, 3))
    pool.add(images)
    assert keras.backend.standardize_dtype(pool.images.dtype) == "uint8"
    stored = to_numpy(pool.images).astype(np.float32) / 255.0
    np.testing.assert_allclose(stored, images[[4, 5, 2, 3]], atol=HALF_STEP)
    # Rounds half up, like torchvision's save_image.
    np.testing.assert_array_equal(
        to_numpy(pool.images), np.floor(images[[4, 5, 2, 3]] * 255 + 0.5)
    )


def test_uint8_value_range_and_clipping():
    pool = ImagePool(3, (8,), value_range=(-1.0, 1.0))
    images = np.array(
        [np.linspace(-1.0, 1.0, 8), np.full(8, 3.0), np.full(8, -3.0)],
        dtype=np.float32,
    )
    pool.add(images)
    decoded = to_numpy(pool._decode(pool.images))
    np.testing.assert_allclose(decoded[0], images[0], atol=2 * HALF_STEP)
    np.testing.assert_allclose(decoded[1], 1.0, atol=1e-6)
    np.testing.assert_allclose(decoded[2], -1.0, atol=1e-6)


@pytest.mark.parametrize("storage_dtype", ["float16", "bfloat16"])
def test_half_precision_storage(storage_dtype):
    pool = ImagePool(4, (3,), storage_dtype=storage_dtype)
    images = np.array([[0.1, 0.5, 0.9], [0.25, 0.75, 1.0]], np.float32)
    pool.add(images)
    out = to_numpy(pool.sample(16))
    assert out.dtype == np.float32
    for row in out:
        assert np.abs(images - row).max(axis=1).min() < 4e-3


def test_reservoir_keeps_first_capacity_in_order():
    # Shapes shared with the next tests: eager JAX compiles once per shape.
    pool = ImagePool(
        100, (1,), storage_dtype="float32", policy="reservoir", seed=0
    )
    pool.add(indexed_images(0, 100, shape=(1,)))
    np.testing.assert_array_equal(stored_indices(pool), np.arange(100))
    assert int(to_numpy(pool.size())) == 100
    # Later images only replace: each slot holds its first image or a new
    # one, and each new image at most once.
    pool.add(indexed_images(100, 200, shape=(1,)))
    indices = stored_indices(pool)
    old = indices < 100
    np.testing.assert_array_equal(indices[old], np.arange(100)[old])
    assert len(np.unique(indices[~old])) == np.sum(~old) > 0
    assert int(to_numpy(pool.size())) == 100


@pytest.mark.parametrize("batch_size", [10_000, 100])
def test_reservoir_statistics(batch_size):
    capacity, total = 100, 10_000
    kept = []
    for seed in range(3):
        pool = ImagePool(
            capacity,
            (1,),
            storage_dtype="float32",
            policy="reservoir",
            seed=seed,
        )
        values = indexed_images(0, total, shape=(1,))
        for start in range(0, total, batch_size):
            pool.add(values[start : start + batch_size])
        assert int(to_numpy(pool.seen)) == total
        indices = stored_indices(pool)
        # Every image is kept at most once, and only written images are.
        assert len(np.unique(indices)) == capacity
        assert indices.min() >= 0 and indices.max() < total
        # An index below `capacity` can only stay in its own slot.
        early = indices < capacity
        np.testing.assert_array_equal(
            indices[early], np.arange(capacity)[early]
        )
        kept.append(indices)
    kept = np.concatenate(kept)
    # A uniform subset of 0..9999: mean 4999.5, std 2887 / sqrt(300) = 167.
    assert abs(kept.mean() - 4999.5) < 700
    # Each image survives with probability 1%: 30 of the 300 kept images
    # per decile of the stream. Chi-square with 9 degrees of freedom;
    # P(chi2 > 33) < 1e-4.
    counts = np.bincount((kept // 1000).astype(int), minlength=10)
    chi2 = np.sum((counts - 30.0) ** 2 / 30.0)
    assert chi2 < 33, counts


def test_reservoir_replacement_rate():
    # After `capacity` images, image n enters with probability c / (n + 1):
    # from n = 100 to 199 that is about 100 * ln(2) = 69 replacements.
    pool = ImagePool(
        100, (1,), storage_dtype="float32", policy="reservoir", seed=0
    )
    pool.add(indexed_images(0, 100, shape=(1,)))
    entered = 0
    for n in range(100, 200):
        before = stored_indices(pool).copy()
        pool.add(indexed_images(n, n + 1, shape=(1,)))
        after = stored_indices(pool)
        changed = np.flatnonzero(before != after)
        assert len(changed) <= 1
        if len(changed):
            assert after[changed[0]] == n
            entered += 1
    assert 50 <= entered <= 90


def test_duplicate_slots_keep_the_last_write():
    pool = ImagePool(4, (1,), storage_dtype="float32")
    pool.add(indexed_images(10, 14, shape=(1,)))
    encoded = indexed_images(20, 26, shape=(1,))
    slots = np.array([1, 1, 2, 0, 3, 3], np.int32)
    keep = np.array([True, True, False, True, False, True])
    pool._write(
        ops.convert_to_tensor(encoded),
        ops.convert_to_tensor(slots),
        ops.convert_to_tensor(keep),
    )
    np.testing.assert_array_equal(stored_indices(pool), [23, 21, 12, 25])


@pytest.mark.parametrize("storage_dtype", ["float32", "uint8"])
def test_sample_only_returns_written_images(storage_dtype):
    pool = ImagePool(
        10,
        (2, 1),
        storage_dtype=storage_dtype,
        value_range=(0.0, 10.0),
        seed=0,
    )
    written = indexed_images(1, 7, shape=(2, 1))  # 6 of 10 slots
    pool.add(written)
    samples = to_numpy(pool.sample(3000)).reshape(3000, -1)[:, 0]
    assert samples.dtype == np.float32
    values, counts = np.unique(np.round(samples, 3), return_counts=True)
    np.testing.assert_allclose(values, np.arange(1, 7), atol=0.02)
    # Uniform over the 6 filled slots: 500 expected, std about 20.
    assert counts.min() > 400 and counts.max() < 600


def test_sample_empty_pool_returns_low():
    pool = ImagePool(3, (2,), storage_dtype="float32", value_range=(-1, 1))
    np.testing.assert_array_equal(to_numpy(pool.sample(4)), -np.ones((4, 2)))
    pool = ImagePool(3, (2,), value_range=(-1, 1))
    np.testing.assert_allclose(to_numpy(pool.sample(2)), -np.ones((2, 2)))
    assert tuple(pool.sample(0).shape) == (0, 2)


def test_sampling_is_seeded_and_advances():
    def draws(seed):
        pool = ImagePool(50, (1,), storage_dtype="float32", seed=seed)
        pool.add(indexed_images(0, 50, shape=(1,)))
        return to_numpy(pool.sample(20)), to_numpy(pool.sample(20))

    first, second = draws(3)
    again, _ = draws(3)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


def test_memory_bytes():
    shape = (32, 32, 3)
    for dtype, itemsize in [
        ("uint8", 1),
        ("float16", 2),
        ("bfloat16", 2),
        ("float32", 4),
    ]:
        pool = ImagePool(10, shape, storage_dtype=dtype)
        assert pool.memory_bytes == 10 * 32 * 32 * 3 * itemsize
        assert pool.memory_bytes == to_numpy(pool.images).nbytes
    assert ImagePool(10, shape, storage_dtype="float32").memory_bytes == (
        4 * ImagePool(10, shape).memory_bytes
    )


def test_get_config_round_trip():
    pool = ImagePool(
        7,
        (4, 4, 3),
        storage_dtype="bfloat16",
        policy="reservoir",
        value_range=(-1.0, 1.0),
        seed=5,
        name="replay",
    )
    config = pool.get_config()
    for key, value in [
        ("capacity", 7),
        ("image_shape", (4, 4, 3)),
        ("storage_dtype", "bfloat16"),
        ("policy", "reservoir"),
        ("value_range", (-1.0, 1.0)),
        ("seed", 5),
    ]:
        assert config[key] == value
    restored = ImagePool.from_config(config)
    assert restored.get_config() == config
    serialized = keras.saving.serialize_keras_object(pool)
    assert serialized["registered_name"] == "keras_dfkd>ImagePool"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert isinstance(restored, ImagePool)
    assert restored.get_config() == config


def test_add_in_stateless_scope_leaves_variables_alone():
    pool = ImagePool(4, (1,), storage_dtype="float32", seed=0)
    pool.add(indexed_images(1, 3, shape=(1,)))
    before = [to_numpy(v).copy() for v in pool.variables]
    mapping = [(v, ops.array(to_numpy(v))) for v in pool.variables]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        pool.add(indexed_images(3, 6, shape=(1,)))
        sampled = pool.sample(4)
    for variable, value in zip(pool.variables, before):
        np.testing.assert_array_equal(to_numpy(variable), value)
    images = to_numpy(scope.get_current_value(pool.images))
    np.testing.assert_array_equal(images[:, 0], [5, 2, 3, 4])
    assert int(to_numpy(scope.get_current_value(pool.seen))) == 5
    assert set(to_numpy(sampled)[:, 0]) <= {2.0, 3.0, 4.0, 5.0}


class PoolModel(keras.Model):
    """Writes every batch to a pool and samples from it in `train_step`."""

    def __init__(self, pool, sample_size=8, **kwargs):
        super().__init__(**kwargs)
        self.pool = pool
        self.sample_size = sample_size
        self.built = True

    def _pool_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        self.pool.add(x)
        sampled = self.pool.sample(self.sample_size)
        return {
            "sample_mean": ops.mean(sampled),
            "size": ops.cast(self.pool.size(), "float32"),
        }

    if keras.backend.backend() == "jax":

        def train_step(self, state, data):
            trainable, non_trainable, optimizer_vars, metrics_vars = state
            mapping = list(zip(self.trainable_variables, trainable)) + list(
                zip(self.non_trainable_variables, non_trainable)
            )
            with keras.StatelessScope(state_mapping=mapping) as scope:
                logs = self._pool_step(data)
            non_trainable = [
                scope.get_current_value(v) for v in self.non_trainable_variables
            ]
            return logs, (
                trainable,
                non_trainable,
                optimizer_vars,
                metrics_vars,
            )

    else:

        def train_step(self, data):
            return self._pool_step(data)


@pytest.mark.parametrize("jit_compile", [True, False])
@pytest.mark.parametrize("policy", ["ring", "reservoir"])
def test_add_and_sample_in_compiled_train_step(policy, jit_compile):
    if keras.backend.backend() == "jax" and not jit_compile:
        pytest.skip("The JAX trainer always compiles the step.")
    pool = ImagePool(
        12, (2, 2, 1), storage_dtype="float32", policy=policy, seed=0
    )
    seed_state = to_numpy(pool.seed_generator.state).copy()
    model = PoolModel(pool)
    model.compile(optimizer="sgd", jit_compile=jit_compile)
    x = indexed_images(1, 41)  # 5 steps of 8
    history = model.fit(x, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert int(to_numpy(pool.seen)) == 40
    assert int(to_numpy(pool.size())) == 12
    indices = stored_indices(pool)
    if policy == "ring":
        expected = np.zeros(12)
        for n in range(40):
            expected[n % 12] = n + 1
        np.testing.assert_array_equal(indices, expected)
    else:
        assert len(np.unique(indices)) == 12 and indices.min() >= 1
    assert not np.array_equal(to_numpy(pool.seed_generator.state), seed_state)
    assert history.history["sample_mean"][-1] >= 1.0
    assert history.history["size"][-1] == 12.0


def test_weights_round_trip(tmp_path):
    pool = ImagePool(6, (3, 3, 1), policy="reservoir", seed=0)
    model = PoolModel(pool)
    rng = np.random.default_rng(0)
    pool.add(rng.uniform(size=(4, 3, 3, 1)).astype(np.float32))
    path = str(tmp_path / "pool.weights.h5")
    model.save_weights(path)

    fresh = PoolModel(ImagePool(6, (3, 3, 1), policy="reservoir", seed=0))
    fresh.load_weights(path)
    np.testing.assert_array_equal(
        to_numpy(fresh.pool.images), to_numpy(pool.images)
    )
    assert int(to_numpy(fresh.pool.seen)) == 4
    assert keras.backend.standardize_dtype(fresh.pool.images.dtype) == "uint8"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"image_shape": ()}, "image_shape"),
        ({"image_shape": (32, 0, 3)}, "image_shape"),
        ({"image_shape": (32, None, 3)}, "image_shape"),
        ({"storage_dtype": "int8"}, "storage_dtype"),
        ({"policy": "fifo"}, "policy"),
        ({"value_range": (1.0, 0.0)}, "value_range"),
        ({"value_range": (0.0,)}, "value_range"),
        ({"value_range": (0.0, float("inf"))}, "value_range"),
        ({"seed": "a"}, "seed"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    args = {"capacity": 4, "image_shape": (32, 32, 3)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ImagePool(**args)


def test_bad_calls_raise():
    pool = ImagePool(4, (2, 2, 3))
    with pytest.raises(ValueError, match="shape"):
        pool.add(np.zeros((2, 2, 2, 1), np.float32))
    with pytest.raises(ValueError, match="shape"):
        pool.add(np.zeros((2, 12), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        pool.sample(-1)
