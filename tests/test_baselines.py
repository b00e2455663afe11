from itertools import combinations

import numpy as np
import pytest

from ppgan_tf import metrics
from ppgan_tf.evaluation import baselines


def _faces(count=10, size=32):
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 1), dtype=np.uint8)


def test_k_same_returns_the_mean_of_exactly_k_faces():
    # Three tight clusters of faces: each face's k nearest are its own cluster.
    base = np.stack([np.full((8, 8, 1), v, np.uint8) for v in (10, 120, 240)])
    faces = np.concatenate([base + np.uint8(i) for i in range(4)])  # 4 faces a cluster, values v..v+3
    out = baselines.k_same(faces, 4)
    for index in range(len(faces)):
        cluster = faces[index % 3::3]
        np.testing.assert_array_equal(out[index], np.round(cluster.astype(float).mean(0)).astype(np.uint8))
    np.testing.assert_array_equal(baselines.k_same(faces, 1), faces)
    with pytest.raises(ValueError, match="k=13"):
        baselines.k_same(faces, 13)


def test_k_same_averages_k_distinct_faces():
    faces = _faces(9)
    out = baselines.k_same(faces, 3).reshape(9, -1).astype(float)
    flat = faces.reshape(9, -1).astype(float)
    for row in out:
        # Some 3 faces average to this row (within rounding).
        assert any(np.abs(flat[list(c)].mean(0) - row).max() <= 0.5 for c in combinations(range(9), 3))


def test_blur_and_pixelation_keep_shape_and_lower_similarity_with_strength():
    faces = _faces()
    unit = lambda x: x.astype(np.float32) / 127.5 - 1  # noqa: E731
    previous = 1.0
    for sigma in (1, 2, 4, 8):
        blurred = baselines.gaussian_blur(faces, sigma)
        assert blurred.shape == faces.shape and blurred.dtype == np.uint8
        ssim = metrics.ssim_per_image(unit(faces), unit(blurred)).mean()
        assert ssim < previous
        previous = ssim
    pixelated = baselines.pixelate(faces, 8)
    assert pixelated.shape == faces.shape
    assert len(np.unique(pixelated[0, :8, :8])) == 1  # one value per block


def test_black_mask_and_suite():
    faces = _faces(8)
    assert not baselines.black_mask(faces).any()
    suite = baselines.baseline_suite()
    assert {"blur_sigma2", "pixelate_8", "black_mask", "k_same_2", "k_same_4", "k_same_8"} <= set(suite)
    for name, function in suite.items():
        assert function(faces).shape == faces.shape, name
