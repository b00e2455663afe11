"""Random views of generated faces for the verificator term."""

import numpy as np
import tensorflow as tf

from conftest import synthetic_face
from ppgan_tf.training import views


def _faces(count, size=32, channels=3):
    faces = np.stack([synthetic_face(i % 3, i, size) for i in range(count)]).astype(np.float32) / 127.5 - 1.0
    return np.repeat(faces[..., None], channels, axis=-1)


def test_a_view_depends_on_its_seed_alone():
    faces = _faces(4)
    seeds = tf.constant([5, 6, 7, 8], tf.int64)
    together = views.random_views(faces, seeds).numpy()
    alone = views.random_views(faces[2:3], seeds[2:3]).numpy()
    np.testing.assert_allclose(together[2:3], alone, atol=1e-6)
    again = views.random_views(faces, seeds).numpy()
    np.testing.assert_array_equal(together, again)
    other = views.random_views(faces, seeds + 100).numpy()
    assert np.abs(other - together).mean() > 1e-3


def test_views_change_the_image_but_keep_it_close():
    faces = _faces(8)
    result = views.random_views(faces, tf.range(8, dtype=tf.int64)).numpy()
    assert result.shape == faces.shape and result.dtype == np.float32
    assert result.min() >= -1.0 and result.max() <= 1.0
    difference = np.abs(result - faces).mean(axis=(1, 2, 3))
    assert np.all(difference > 1e-3)  # every face is changed...
    assert np.all(difference < 0.5)  # ...but stays the same picture, not noise


def test_the_identity_transform_keeps_a_face_where_it_is():
    u = tf.constant([[0.5, 0.5, 0.5, 0.5] + [0.0] * 5])  # no rotation, scale 1, no shift
    transform = views._affine_transforms(u, 32).numpy()[0]
    np.testing.assert_allclose(transform, [1, 0, 0, 0, 1, 0, 0, 0], atol=1e-5)


def test_gradients_reach_the_input():
    faces = tf.constant(_faces(2))
    with tf.GradientTape() as tape:
        tape.watch(faces)
        loss = tf.reduce_sum(tf.square(views.random_views(faces, tf.constant([1, 2], tf.int64))))
    gradient = tape.gradient(loss, faces)
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0


def test_a_colour_cast_alone_is_undone_in_grey_views():
    faces = _faces(64)
    tinted = faces.copy()
    tinted[..., 1] = np.clip(tinted[..., 1] + 0.3, -1, 1)  # a green cast, as a generator learnt
    seeds = tf.range(64, dtype=tf.int64)
    share = views._draws(seeds, tf.shape(faces)[1:])[0].numpy()[:, 9]
    grey, colour = share < views.GREY_VIEW_SHARE, share > 0.9
    assert 0.3 < grey.mean() < 0.7 and colour.any()

    def chroma(images):  # what is left of an image after taking out its grey
        return images - images.mean(axis=-1, keepdims=True)

    plain, cast = views.random_views(faces, seeds).numpy(), views.random_views(tinted, seeds).numpy()
    cast_seen = np.abs(chroma(plain) - chroma(cast)).mean(axis=(1, 2, 3))
    assert cast_seen[grey].max() < 0.1 * cast_seen[colour].min()


def test_reverted_regions_paste_one_rectangle_of_the_original_into_the_chosen_share():
    fakes, originals = _faces(64), -_faces(64)
    seeds = tf.range(64, dtype=tf.int64)
    mixed = views.revert_regions(fakes, originals, seeds, share=0.5).numpy()
    reverted = np.all(np.isclose(mixed, originals), axis=-1)  # [64, 32, 32]: pixels taken from the original
    kept = np.all(np.isclose(mixed, fakes), axis=-1)
    assert np.all(reverted | kept)
    counts = reverted.reshape(64, -1).sum(axis=1)
    assert 20 <= np.count_nonzero(counts) <= 44  # about half the faces
    for face in np.flatnonzero(counts):  # one axis-aligned rectangle, 0.3-0.6 of the side each way
        rows, columns = np.flatnonzero(reverted[face].any(axis=1)), np.flatnonzero(reverted[face].any(axis=0))
        assert reverted[face].sum() == len(rows) * len(columns)
        assert 0.25 * 32 <= len(rows) <= 0.65 * 32 and 0.25 * 32 <= len(columns) <= 0.65 * 32
    np.testing.assert_array_equal(views.revert_regions(fakes, originals, seeds, share=0.5).numpy(), mixed)
    np.testing.assert_array_equal(views.revert_regions(fakes, originals, seeds, share=0.0).numpy(), fakes)


def test_blended_faces_lie_between_a_face_and_the_next_one_in_the_chosen_share():
    faces = _faces(64)
    seeds = tf.range(64, dtype=tf.int64)
    mixed, blended = (t.numpy() for t in views.blended_faces(faces, seeds, share=0.5))
    partners = np.roll(faces, -1, axis=0)
    assert set(np.unique(blended)) <= {0.0, 1.0} and 20 <= blended.sum() <= 44  # about half
    np.testing.assert_allclose(mixed[blended == 0], faces[blended == 0])
    for face in np.flatnonzero(blended):  # on the segment from the face to its partner, one weight per face
        weight = np.sum((mixed[face] - faces[face]) * (partners[face] - faces[face])) / np.sum(
            np.square(partners[face] - faces[face]))
        assert 0.0 <= weight < 1.0
        np.testing.assert_allclose(mixed[face], faces[face] + weight * (partners[face] - faces[face]), atol=1e-5)
    again, _ = views.blended_faces(faces, seeds, share=0.5)
    np.testing.assert_array_equal(again.numpy(), mixed)
    unchanged, none = views.blended_faces(faces, seeds, share=0.0)
    np.testing.assert_array_equal(unchanged.numpy(), faces)
    np.testing.assert_array_equal(none.numpy(), 0.0)

