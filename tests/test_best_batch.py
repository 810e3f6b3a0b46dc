"""BestBatch keeps the lowest-loss batch since its last reset."""

import numpy as np
import pytest

from keras_dfkd.layers import BestBatch
from keras_dfkd.testing import to_numpy


def test_keeps_the_lowest_loss_batch_and_forgets_on_reset():
    best = BestBatch((2, 2, 1), batch_size=3)
    best.build()
    best.reset()
    batches = [np.full((3, 2, 2, 1), v, "float32") for v in (1.0, 2.0, 3.0)]
    for images, loss in zip(batches, (5.0, 4.0, 4.5)):
        best.update(images, np.float32(loss))
    np.testing.assert_array_equal(to_numpy(best.images), batches[1])
    assert float(to_numpy(best.loss)) == 4.0
    # After a reset, a higher loss than the old best is kept again.
    best.reset()
    best.update(batches[2], np.float32(9.0))
    np.testing.assert_array_equal(to_numpy(best.images), batches[2])
    assert float(to_numpy(best.loss)) == 9.0
    assert not best.trainable_variables


def test_config_round_trip_and_bad_batch_size():
    best = BestBatch((4, 4, 3), batch_size=8, name="best")
    clone = BestBatch.from_config(best.get_config())
    assert clone.get_config() == best.get_config()
    with pytest.raises(ValueError, match="batch_size"):
        BestBatch((4, 4, 3), batch_size=0)
