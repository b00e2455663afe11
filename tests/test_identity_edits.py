"""Smooth edits of faces: fields within their budget, a warp that moves pixels, an optimisation that moves embeddings."""

import numpy as np
import pytest
import tensorflow as tf

from ppgan_tf.evaluation import identity_edits


def test_identity_edit_fields_stay_in_budget_and_the_warp_moves_pixels():
    assert identity_edits.parse_edit("warp:8:4") == ("warp", 8, 4.0)
    with pytest.raises(ValueError, match="kind"):
        identity_edits.parse_edit("blur:8:4")
    field = identity_edits.smooth_field(tf.fill([2, 4, 4, 2], 10.0), 3.0, 32).numpy()
    assert np.abs(field).max() <= 3.0 + 1e-6 and np.abs(field[:, 0]).max() < 1e-6 and field[:, 16, 16].min() > 2.5
    images = tf.random.uniform([2, 16, 16, 3])
    assert np.allclose(identity_edits.warp_images(images, tf.zeros([2, 16, 16, 2])), images)
    one_column = tf.concat([tf.zeros([2, 16, 16, 1]), tf.ones([2, 16, 16, 1])], axis=-1)
    shifted = identity_edits.warp_images(images, one_column).numpy()
    assert np.allclose(shifted[:, :, :-1], images.numpy()[:, :, 1:])  # each pixel takes its right neighbour's value


def test_an_optimised_edit_moves_the_faces_away_from_the_recogniser_within_its_budget():
    # A stand-in recogniser: the unit vector of each face's mean colour per image half.
    def recogniser(faces):
        halves = tf.concat([tf.reduce_mean(faces[:, :, :8], axis=[1, 2]),
                            tf.reduce_mean(faces[:, :, 8:], axis=[1, 2])], axis=-1)
        return tf.math.l2_normalize(halves + 2.0, axis=-1)

    faces = tf.random.uniform([3, 16, 16, 3], -0.5, 0.5, seed=1)
    before = recogniser(faces)
    for kind, budget in (("shade", 0.4), ("warp", 4.0)):
        edited = identity_edits.optimise_edit(kind, 4, budget, faces, recogniser, margin=1.0, steps=30,
                                              learning_rate=0.1, seed=0)
        moved = tf.norm(recogniser(edited) - before, axis=-1).numpy()
        assert moved.min() > 1e-3, kind
        if kind == "shade":
            assert np.abs(edited.numpy() - faces.numpy()).max() <= budget + 1e-5
        else:  # bilinear samples of the face: never outside its values
            low, high = faces.numpy().min() - 1e-5, faces.numpy().max() + 1e-5
            assert low <= edited.numpy().min() <= edited.numpy().max() <= high
