"""The benchmarks: the whole-photo one's JSON (time split by stage, the guard's work); rounds compared within rounds;
the identity edits' fields and their optimisation."""

import json
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import rounds_summary
from conftest import face_photo, run_cli


def test_the_photo_benchmark_times_every_stage_and_counts_the_guards_work(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for person in (1, 2):
        photo, _ = face_photo(person=person)
        cv2.imwrite(str(photos / f"{person}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    out = tmp_path / "photos.json"
    run_cli([sys.executable, "-m", "benchmarks.photos", f"--photos={photos}", f"--out={out}"])
    results = json.loads(out.read_text())
    assert results["photos"] == 2 and results["faces"] == 2
    assert 0 <= results["guard_first_try"] + results["fallbacks"] <= 2
    stages = results["stage_seconds"]
    assert stages["generation"] > 0 and stages["guard"] > 0 and stages["detection"] > 0
    assert abs(sum(stages.values()) - results["photo_seconds"]) < 1e-6


def test_variants_timed_in_rounds_are_compared_within_each_round():
    # The machine slows down by half in the second round: the ratio within rounds stays 2.
    rounds = [{"old": {"seconds_per_step": 2.0}, "new": {"seconds_per_step": 1.0}, "xla": {"error": "no kernel"}},
              {"old": {"seconds_per_step": 3.0}, "new": {"seconds_per_step": 1.5}, "xla": {"error": "no kernel"}},
              {"old": {"seconds_per_step": 2.2}, "new": {"seconds_per_step": 1.0}, "xla": {"error": "no kernel"}}]
    summary = rounds_summary(rounds)
    assert summary["new"]["speedup"] == 2.0 and summary["old"]["speedup"] == 1.0
    assert summary["new"]["seconds_per_step"] == 1.0 and (summary["new"]["min"], summary["new"]["max"]) == (1.0, 1.5)
    assert summary["old"]["rounds"] == [2.0, 3.0, 2.2] and summary["xla"] == {"error": "no kernel"}


def test_identity_edit_fields_stay_in_budget_and_the_warp_moves_pixels():
    from benchmarks import identity_edits

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
    from benchmarks import identity_edits

    # A stand-in recogniser: the unit vector of each face's mean colour per image half.
    def recogniser(faces):
        halves = tf.concat([tf.reduce_mean(faces[:, :, :8], axis=[1, 2]), tf.reduce_mean(faces[:, :, 8:], axis=[1, 2])], -1)
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
            assert faces.numpy().min() - 1e-5 <= edited.numpy().min() <= edited.numpy().max() <= faces.numpy().max() + 1e-5
