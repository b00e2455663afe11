"""Verification metrics: the 10-fold threshold, de-identification rate, SSIM."""

import dataclasses

import numpy as np

from ppgan_tf import losses


def _best_threshold(distances, same):
    """The distance threshold (match when distance < threshold) with the best accuracy."""
    order = np.sort(np.unique(distances))
    candidates = np.concatenate([[order[0] - 1e-6], (order[1:] + order[:-1]) / 2, [order[-1] + 1e-6]])
    accuracies = [np.mean((distances < t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracies))])


@dataclasses.dataclass
class VerificationResult:
    threshold: float  # mean of the 10 fold thresholds
    accuracy: float  # mean accuracy on the held-out folds
    fold_accuracies: list


def ten_fold_threshold(distances, same, folds=10, seed=0):
    """Verification accuracy with the threshold chosen by k-fold cross-validation.

    As on LFW: for each fold, the threshold that is best on the other folds
    is scored on this fold. The returned threshold is the folds' mean.

    Args:
        distances: float `[P]`, embedding distances of the pairs.
        same: `[P]`, 1 for same-person pairs, 0 otherwise.
        folds: int.
        seed: shuffles pairs into folds.
    """
    distances = np.asarray(distances, np.float64)
    same = np.asarray(same).astype(bool)
    if len(distances) < folds:
        raise ValueError(f"{len(distances)} pairs cannot make {folds} folds")
    assignment = np.random.default_rng(seed).permutation(len(distances)) % folds
    thresholds, accuracies = [], []
    for k in range(folds):
        held_out = assignment == k
        t = _best_threshold(distances[~held_out], same[~held_out])
        thresholds.append(t)
        accuracies.append(float(np.mean((distances[held_out] < t) == same[held_out])))
    return VerificationResult(float(np.mean(thresholds)), float(np.mean(accuracies)), accuracies)


def deidentification_rate(original_embeddings, deidentified_embeddings, threshold):
    """Share of faces whose de-identified version no longer matches the original."""
    diff = np.asarray(original_embeddings, np.float64) - np.asarray(deidentified_embeddings, np.float64)
    return float(np.mean(np.linalg.norm(diff, axis=-1) >= threshold))


def ssim_per_image(images_a, images_b):
    """SSIM of each pair of images in [-1, 1], as numpy."""
    return losses.ssim(images_a, images_b).numpy()
