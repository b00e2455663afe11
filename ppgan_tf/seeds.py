"""What a seed means: one seed, one noise vector, one new face, in every path.

Training, the sample grids, metrics.json, the evaluation, the exports' parity
checks, the SavedModel's `deidentify_with_seed`, `ppgan-deidentify --seed` and
`Deidentifier` all turn a face's seed into the generator's noise with
`noise_of_seeds`, so the same seed gives the same face from a model in any of
its formats. `noise_of_seeds_numpy` draws the same numbers without TensorFlow
(the de-identifier's TFLite route never imports it).
"""

import numpy as np

# A run's seed moves all its faces' seeds by this stride, so two runs' seeds never meet.
RUN_STRIDE = 1 << 40
# The guard's retries move a face's seed by this prime, away from its neighbours' seeds.
RETRY_STRIDE = 7919


def noise_of_seeds(seeds, size):
    """float32 `[len(seeds), size]` uniform in [0, 1): a stateless function of each seed alone.

    Args:
        seeds: int `[batch]` (a tensor, array or list).
        size: the generator's `noise_size`.

    Example:
    >>> noise_of_seeds([7], 4).shape
    TensorShape([1, 4])
    """
    import tensorflow as tf  # here, not at the top: the TFLite route draws noise with noise_of_seeds_numpy

    seeds = tf.cast(tf.reshape(tf.convert_to_tensor(seeds), [-1]), tf.int64)
    return tf.map_fn(
        lambda seed: tf.random.stateless_uniform([size], seed=tf.stack([seed, tf.constant(0, tf.int64)])),
        seeds,
        fn_output_signature=tf.float32,
    )


_LOW32 = np.uint64(0xFFFFFFFF)
# Philox-4x32-10 (Salmon et al. 2011) as TensorFlow's CPU kernels run it, and the key TF's stateless ops scramble
# a seed with (`GenerateKey` in tensorflow/core/kernels/stateless_random_ops.cc).
_PHILOX_MULTIPLIERS = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_KEY_STEPS = (np.uint64(0x9E3779B9), np.uint64(0xBB67AE85))
_SEED_SCRAMBLE_KEY = (np.uint64(0x3EC8F720), np.uint64(0x02461E29))


def _philox(counters, key):
    """Philox-4x32-10 of `[n, 4]` uint32 counters (held in uint64) under a 2-word key: `[n, 4]` words."""
    c0, c1, c2, c3 = (counters[:, i] for i in range(4))
    k0, k1 = key
    for _ in range(10):
        product0, product1 = _PHILOX_MULTIPLIERS[0] * c0, _PHILOX_MULTIPLIERS[1] * c2
        c0, c1, c2, c3 = ((product1 >> np.uint64(32)) ^ c1 ^ k0, product1 & _LOW32,
                          (product0 >> np.uint64(32)) ^ c3 ^ k1, product0 & _LOW32)
        k0, k1 = (k0 + _PHILOX_KEY_STEPS[0]) & _LOW32, (k1 + _PHILOX_KEY_STEPS[1]) & _LOW32
    return np.stack([c0, c1, c2, c3], axis=1)


def noise_of_seeds_numpy(seeds, size):
    """`noise_of_seeds` in NumPy, bit for bit: float32 `[len(seeds), size]` uniform in [0, 1).

    Example:
    >>> noise_of_seeds_numpy([7], 4).shape
    (1, 4)
    """
    seeds = np.asarray(seeds, np.int64).reshape(-1).view(np.uint64)
    blocks = (size + 3) // 4
    noise = np.empty([len(seeds), size], np.float32)
    for row, seed in enumerate(seeds):
        # The seed pair (seed, 0) is scrambled into the key and the high half of the counter.
        mixed = _philox(np.array([[seed & _LOW32, seed >> np.uint64(32), 0, 0]], np.uint64), _SEED_SCRAMBLE_KEY)[0]
        counters = np.zeros([blocks, 4], np.uint64)
        counters[:, 0] = np.arange(blocks, dtype=np.uint64)
        counters[:, 2:] = mixed[2:]
        words = _philox(counters, mixed[:2]).reshape(-1)[:size].astype(np.uint32)
        # 23 random mantissa bits under the exponent of 1.0 give a float in [1, 2).
        noise[row] = ((words & np.uint32(0x7FFFFF)) | np.uint32(127 << 23)).view(np.float32) - np.float32(1.0)
    return noise


def run_seeds(count, run_seed=0):
    """The seeds of a run's first `count` faces (its test faces, its training examples by index)."""
    return np.arange(count, dtype=np.int64) + run_seed * RUN_STRIDE


def retry_seed(seed, attempt):
    """The seed of the guard's `attempt`-th retry of a face (attempt 0: the seed itself)."""
    return seed + attempt * RETRY_STRIDE
