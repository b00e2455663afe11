"""One seed, one noise vector: the NumPy draw (the TFLite route) equals TensorFlow's (training, exports)."""

import numpy as np
import pytest

from ppgan_tf import seeds


@pytest.mark.parametrize("size", [1, 3, 4, 5, 17, 5120])
def test_numpy_noise_is_tensorflows_noise_bit_for_bit(size):
    batch = [0, 1, 7, seeds.retry_seed(12345, 3), 3 * seeds.RUN_STRIDE + 11, -1, 2**62 + 3]
    expected = seeds.noise_of_seeds(batch, size).numpy()
    drawn = seeds.noise_of_seeds_numpy(batch, size)
    assert drawn.dtype == np.float32 and drawn.shape == (len(batch), size)
    np.testing.assert_array_equal(drawn, expected)


def test_numpy_noise_is_uniform_and_differs_between_seeds():
    noise = seeds.noise_of_seeds_numpy(np.arange(64), 1024)
    assert noise.min() >= 0.0 and noise.max() < 1.0
    assert abs(noise.mean() - 0.5) < 0.01
    assert len({row.tobytes() for row in noise}) == 64
