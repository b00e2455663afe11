"""tf.data input for PP-GAN training and the verificator's pairs.

All randomness here is a stateless function of (seed, example index): the
k-th example of a run is the same image with the same flip and the same noise
seed however the run is split across replicas or restarted, so resuming from
step s only needs s.
"""

import numpy as np
import tensorflow as tf

from ppgan_tf.seeds import RUN_STRIDE

_FLIP_SALT = 1


def to_model_range(images_uint8):
    """uint8 [0, 255] to float32 [-1, 1]."""
    return tf.cast(images_uint8, tf.float32) / 127.5 - 1.0


def to_uint8(images):
    """float [-1, 1] to uint8 [0, 255], rounding."""
    # Clip in grey levels, not in [-1, 1]: full-integer TFLite quantises a
    # [-1, 1] clip with the output's step of one grey level (3 levels left).
    grey_levels = tf.round(tf.cast(images, tf.float32) * 127.5 + 127.5)
    return tf.cast(tf.clip_by_value(grey_levels, 0.0, 255.0), tf.uint8)


def gan_dataset(images, batch_size, seed=0, start_step=0, flip=True, repeats=None):
    """An endless dataset of batches: "images" (float [-1, 1]), "noise_seeds" (int64),
    and which face each is ("face_indices" into `images`) and whether it was mirrored ("flipped").

    Each epoch visits every face once (or `repeats[i]` times) in an order
    fixed by (seed, epoch); `start_step` skips the batches a resumed run has
    already trained on. Every visit is its own example: its own noise seed
    and flip.

    Args:
        images: uint8 `[N, H, W, C]` faces.
        batch_size: global batch size.
        seed: int.
        start_step: the number of batches already consumed.
        flip: random horizontal flips (a face mirrored is still a face).
        repeats: visits per epoch of each face (ints >= 1, one per image), e.g.
            to oversample a source of rare faces; None visits each once.

    Example:
        >>> batches = gan_dataset(np.zeros((3, 8, 8, 1), np.uint8), 2, repeats=[1, 1, 2])
    """
    if len(images) == 0:
        raise ValueError("gan_dataset needs at least one image")
    visits = np.arange(len(images), dtype=np.int64)
    if repeats is not None:
        repeats = np.asarray(repeats, np.int64)
        if repeats.shape != visits.shape or repeats.min() < 1:
            raise ValueError(f"repeats: one count >= 1 per image ({len(images)}), got shape {repeats.shape}, "
                             f"min {repeats.min() if repeats.size else None}")
        visits = np.repeat(visits, repeats)
    count = len(visits)
    faces = tf.constant(images)
    start_example = start_step * batch_size
    first_epoch = start_example // count

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(
            tf.constant(visits), seed=tf.stack([tf.constant(seed, tf.int64), e])
        )
        example_ids = tf.data.Dataset.range(e * count, (e + 1) * count)
        return tf.data.Dataset.zip(example_ids, tf.data.Dataset.from_tensor_slices(order))

    def example(example_id, index):
        image = to_model_range(tf.gather(faces, index))
        flipped = tf.constant(False)
        if flip:  # the draw of tf.image.stateless_random_flip_left_right, kept to say which faces were mirrored
            flip_seed = tf.stack([example_id, tf.constant(seed * 7919 + _FLIP_SALT, tf.int64)])
            flipped = tf.random.stateless_uniform([], seed=flip_seed) < 0.5
            image = tf.cond(flipped, lambda: tf.reverse(image, [1]), lambda: image)
        return {"images": image, "noise_seeds": example_id + seed * RUN_STRIDE, "face_indices": index,
                "flipped": flipped}

    dataset = tf.data.Dataset.range(first_epoch, 1 << 40).flat_map(epoch)
    dataset = dataset.skip(start_example - first_epoch * count)
    dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def indices_by_identity(identities):
    """{identity: [indices of its faces]}, in the order the identities first appear."""
    groups = {}
    for i, identity in enumerate(identities):
        groups.setdefault(identity, []).append(i)
    return groups


def check_pairable(identities, where):
    """Raises ValueError unless both positive and negative pairs can be drawn."""
    groups = indices_by_identity(identities)
    if len(groups) < 2 or not any(len(g) >= 2 for g in groups.values()):
        raise ValueError(
            f"{where}: verification pairs need at least 2 people and one person with 2+ images; "
            f"found {len(groups)} people, largest with {max(map(len, groups.values()), default=0)} images"
        )


def sample_pairs(identities, count, rng):
    """`count` index pairs, the first half same-person, the second half different people.

    Args:
        identities: sequence of identity labels, one per image.
        count: even number of pairs.
        rng: `np.random.Generator`.

    Returns:
        (first, second, same): int arrays of length `count`; `same` is 1/0.
    """
    groups = indices_by_identity(identities)
    people = list(groups)
    with_two = [p for p in people if len(groups[p]) >= 2]
    half = count // 2
    first, second = np.empty(count, np.int64), np.empty(count, np.int64)
    for k in range(half):
        person = with_two[rng.integers(len(with_two))]
        first[k], second[k] = rng.choice(groups[person], size=2, replace=False)
    for k in range(half, count):
        a, b = rng.choice(len(people), size=2, replace=False)
        first[k] = rng.choice(groups[people[a]])
        second[k] = rng.choice(groups[people[b]])
    same = np.concatenate([np.ones(half, np.int64), np.zeros(count - half, np.int64)])
    return first, second, same


def pair_batches(images, identities, batch_size, seed=0, flip=True):
    """Endless Siamese training batches, 50% positive and 50% negative pairs.

    Yields:
        (images_a, images_b, same): float32 [-1, 1] arrays and int labels.
    """
    check_pairable(identities, "verificator training data")
    rng = np.random.default_rng(seed)
    while True:
        first, second, same = sample_pairs(identities, batch_size, rng)
        a, b = images[first], images[second]
        if flip:
            a = np.where(rng.random(batch_size)[:, None, None, None] < 0.5, a[:, :, ::-1], a)
            b = np.where(rng.random(batch_size)[:, None, None, None] < 0.5, b[:, :, ::-1], b)
        yield (a.astype(np.float32) / 127.5 - 1.0, b.astype(np.float32) / 127.5 - 1.0, same)


def evaluation_pairs(identities, count, seed=0):
    """A fixed, balanced set of test pairs (half positive), the same for every run with `seed`."""
    check_pairable(identities, "test data")
    return sample_pairs(identities, count - count % 2, np.random.default_rng(seed + 1))
