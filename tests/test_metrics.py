import numpy as np

from ppgan_tf import metrics


def test_ten_fold_threshold_separates_separable_pairs():
    rng = np.random.default_rng(0)
    same = np.repeat([1, 0], 100)
    distances = np.where(same == 1, rng.uniform(0.1, 0.6, 200), rng.uniform(0.9, 1.8, 200))
    result = metrics.ten_fold_threshold(distances, same)
    assert result.accuracy == 1.0
    assert 0.6 < result.threshold < 0.9
    assert len(result.fold_accuracies) == 10


def test_ten_fold_threshold_on_overlapping_pairs_is_near_the_crossing():
    rng = np.random.default_rng(1)
    same = np.repeat([1, 0], 1000)
    distances = np.where(same == 1, rng.normal(0.8, 0.2, 2000), rng.normal(1.2, 0.2, 2000))
    result = metrics.ten_fold_threshold(distances, same)
    assert abs(result.threshold - 1.0) < 0.05
    assert 0.80 < result.accuracy < 0.88  # Phi(1) = 0.841


def test_deidentification_rate():
    original = np.eye(4)
    assert metrics.deidentification_rate(original, original, threshold=0.5) == 0.0
    moved = original.copy()
    moved[:3] = -moved[:3]  # distance 2 for three faces
    assert metrics.deidentification_rate(original, moved, threshold=0.5) == 0.75


def test_ssim_of_identical_images_is_one():
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(metrics.ssim_per_image(images, images), 1.0, atol=1e-6)


def test_identity_switches_on_planted_embeddings():
    originals = np.eye(4)  # four faces, two people (a, a, b, b), unit vectors far apart
    identities = ["a", "a", "b", "b"]
    deidentified = np.array([
        originals[2],          # face 0 (person a) now looks like face 2 (person b): a switch
        [0.0, 0.0, 0.0, 0.0],  # matches nobody closely
        originals[0],          # face 2 (person b) now looks like face 0 (person a): a switch
        originals[3],          # face 3 still looks like itself: no switch (same person)
    ])
    assert metrics.identity_switches(originals, deidentified, identities, threshold=0.5) == 2


def test_rank1_reidentification_on_planted_embeddings():
    gallery = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    gallery_ids = ["a", "b", "c"]
    probes = np.array([[1.0, 0.0], [9.0, 1.0], [9.0, 0.0], [0.0, 8.0]])
    probe_ids = ["a", "b", "c", "c"]  # the third probe is nearest to b: a miss
    assert metrics.rank1_reidentification(probes, probe_ids, gallery, gallery_ids) == 0.75


def test_false_rejections_of_identical_pairs_are_zero():
    embeddings = np.random.default_rng(0).normal(size=(5, 8))
    assert metrics.false_rejection_rate(embeddings, embeddings, threshold=0.1) == 0.0


class _CountingDetector:
    """Finds a face when the image is at least 100 px wide (as padding makes it)."""

    def detect(self, image):
        assert image.ndim == 3 and image.shape[2] == 3
        return [object()] if image.shape[1] >= 100 else []


def test_detection_rate_with_and_without_padding():
    faces = np.zeros((4, 64, 64, 1), np.uint8)
    assert metrics.detection_rate(faces, _CountingDetector()) == 0.0
    assert metrics.detection_rate(faces, _CountingDetector(), padding=50) == 1.0


def test_thresholds_at_far_let_that_share_of_impostors_match():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(200, 16))
    identities = np.arange(200) // 2
    thresholds = metrics.thresholds_at_far(embeddings, identities)
    assert set(thresholds) == {0.001, 0.01} and thresholds[0.001] < thresholds[0.01]
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=-1)
    impostor = (identities[:, None] != identities[None]) & np.triu(np.ones((200, 200), bool), 1)
    for rate, limit in thresholds.items():
        assert abs(np.mean(distances[impostor] < limit) - rate) < 0.2 * rate
    # Too few impostor pairs to measure 0.1%: that rate is left out.
    assert set(metrics.thresholds_at_far(embeddings[:20], identities[:20])) == {0.01}


def test_verification_metrics_on_planted_embeddings():
    original = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.0], [1.0, 0.1]])  # people a, a, b, b
    identities = ["a", "a", "b", "b"]
    output = original.copy()
    output[0] = [-1.0, 0.0]  # moved far: no longer matches itself or the other photo of a
    far_thresholds = {0.01: 0.5}
    result = metrics.verification_metrics(original, output, identities, threshold=0.5, far_thresholds=far_thresholds)
    assert result["tar_at_far_0.01_same_photo"] == 0.75
    # Ordered genuine pairs (original i, output j): (1, 0) fails, (0, 1), (2, 3), (3, 2) match.
    assert result["tar_at_far_0.01_other_photo"] == 0.75
    assert result["protection_success"] == 0.25  # all four matched before; one no longer does
    np.testing.assert_allclose(result["mean_distance"], np.sqrt(2) / 4)
    np.testing.assert_allclose(result["mean_cosine"], 0.75)
    # One photo a person: no other photo, no genuine pair to protect.
    single = metrics.verification_metrics(original, output, ["a", "b", "c", "d"], 0.5, far_thresholds)
    assert single["tar_at_far_0.01_other_photo"] is None and single["protection_success"] is None


def test_pairwise_distances_match_the_direct_formula():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(metrics._distances(a, b), np.linalg.norm(a[:, None] - b[None], axis=-1), atol=1e-9)


def test_luminance_shift_reads_the_face_only_and_its_sign():
    from ppgan_tf.faces.alignment import face_box

    faces = np.full((2, 64, 64, 3), 100, np.uint8)
    outputs = faces.copy()
    top, left, bottom, right = (round(v * 64) for v in face_box())
    outputs[0, top:bottom, left:right] += 20  # the first face lightened over the face box
    outputs[1] = 0
    outputs[1, top:bottom, left:right] = 90  # the second darkened there, its frame blackened (not read)
    np.testing.assert_allclose(metrics.luminance_shift(faces, outputs), [20.0, -10.0])
    grey = np.full((1, 64, 64, 1), 50, np.uint8)
    np.testing.assert_allclose(metrics.luminance_shift(grey, grey + 5), [5.0])
    red = np.zeros((1, 64, 64, 3), np.uint8)
    red[..., 0] = 100  # luma weighs red by 0.299
    np.testing.assert_allclose(metrics.luminance_shift(np.zeros_like(red), red), [29.9])
