"""What a seed means: one seed, one noise vector, one new face, in every path.

Training, the sample grids, metrics.json, the evaluation, the exports' parity
checks, the SavedModel's `deidentify_with_seed`, `ppgan-deidentify --seed` and
`Deidentifier` all turn a face's seed into the generator's noise with
`noise_of_seeds`, so the same seed gives the same face from a model in any of
its formats.
"""

import numpy as np
import tensorflow as tf

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
    seeds = tf.cast(tf.reshape(tf.convert_to_tensor(seeds), [-1]), tf.int64)
    return tf.map_fn(
        lambda seed: tf.random.stateless_uniform([size], seed=tf.stack([seed, tf.constant(0, tf.int64)])),
        seeds,
        fn_output_signature=tf.float32,
    )


def run_seeds(count, run_seed=0):
    """The seeds of a run's first `count` faces (its test faces, its training examples by index)."""
    return np.arange(count, dtype=np.int64) + run_seed * RUN_STRIDE


def retry_seed(seed, attempt):
    """The seed of the guard's `attempt`-th retry of a face (attempt 0: the seed itself)."""
    return seed + attempt * RETRY_STRIDE
