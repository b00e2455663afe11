import numpy as np

from ppgan_tf.evaluation import metrics


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
