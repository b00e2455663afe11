"""Verification metrics: the 10-fold threshold, de-identification rate, SSIM."""

import dataclasses

import numpy as np

from ppgan_tf import losses
from ppgan_tf.faces.alignment import face_box


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


def ssim_of_uint8(faces_a, faces_b):
    """SSIM of each pair of uint8 faces, as numpy."""
    return ssim_per_image(*(np.asarray(faces, np.float32) / 127.5 - 1.0 for faces in (faces_a, faces_b)))


def luminance_shift(faces_a, faces_b, margin=0.2):
    """How much brighter each face of `faces_b` is than its `faces_a` over the face (`alignment.face_box` of crops
    aligned with `margin`): the mean difference of BT.601 luma in grey levels, per pair of uint8 faces.

    A generator that lightens dark skin reads positive on those faces and near zero on light ones.
    """
    def luma(faces):
        faces = np.asarray(faces, np.float64)
        return faces[..., 0] if faces.shape[-1] == 1 else faces @ np.array([0.299, 0.587, 0.114])

    side = np.shape(faces_a)[1]
    top, left, bottom, right = (round(value * side) for value in face_box(margin))
    region = (slice(None), slice(top, bottom), slice(left, right))
    return (luma(faces_b)[region] - luma(faces_a)[region]).mean(axis=(1, 2))


def _distances(embeddings_a, embeddings_b):
    """All pairwise Euclidean distances `[len(a), len(b)]`, through the Gram matrix (no `[a, b, dim]` array)."""
    a, b = np.asarray(embeddings_a, np.float64), np.asarray(embeddings_b, np.float64)
    squared = np.sum(a**2, axis=1)[:, None] + np.sum(b**2, axis=1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def identity_switches(original_embeddings, deidentified_embeddings, identities, threshold):
    """De-identified faces that match the original of another person (paper sec. 4.2).

    Face i switches identity when its de-identified embedding is within
    `threshold` of the original embedding of some face j of another person.
    Returns the number of such faces.
    """
    identities = np.asarray(identities)
    close = _distances(deidentified_embeddings, original_embeddings) < threshold
    other_person = identities[:, None] != identities[None, :]
    return int(np.sum(np.any(close & other_person, axis=1)))


def rank1_reidentification(probe_embeddings, probe_identities, gallery_embeddings, gallery_identities):
    """Share of probes whose nearest gallery face is their own person (closed-set rank-1)."""
    nearest = np.argmin(_distances(probe_embeddings, gallery_embeddings), axis=1)
    return float(np.mean(np.asarray(gallery_identities)[nearest] == np.asarray(probe_identities)))


# False-accept rates at which verification is reported, as the field's benchmarks do.
FALSE_ACCEPT_RATES = (0.001, 0.01)


def thresholds_at_far(embeddings, identities, rates=FALSE_ACCEPT_RATES):
    """{rate: distance threshold} at which that share of impostor pairs (two people's originals) match.

    A rate is left out when there are fewer than 1 / rate impostor pairs to
    measure it on.
    """
    identities = np.asarray(identities)
    upper = np.triu(identities[:, None] != identities[None, :], k=1)
    impostors = _distances(embeddings, embeddings)[upper]
    return {rate: float(np.quantile(impostors, rate)) for rate in rates if len(impostors) * rate >= 1}


def _genuine_pairs(identities):
    """(i, j) index arrays of the ordered pairs of different photos of one person."""
    identities = np.asarray(identities)
    same = (identities[:, None] == identities[None, :]) & ~np.eye(len(identities), dtype=bool)
    return np.nonzero(same)


def verification_metrics(original_embeddings, output_embeddings, identities, threshold, far_thresholds):
    """How a judge links outputs to the original people, beyond the de-identification rate.

    - `tar_at_far_<rate>_same_photo`: share of outputs the judge matches to
      the original they came from, at the threshold of that false-accept rate;
    - `tar_at_far_<rate>_other_photo`: the same for another photo of the person
      (what an attacker holding a photo of them sees); None without one;
    - `protection_success`: of the genuine pairs (another photo, this photo)
      the judge matched at `threshold` before, the share it no longer matches
      once this photo is replaced by its output; None when it matched none;
    - `mean_distance`, `mean_cosine`: how far each output's embedding moved from its original's.

    Args:
        far_thresholds: `thresholds_at_far` of the judge on the originals.
    """
    original = np.asarray(original_embeddings, np.float64)
    output = np.asarray(output_embeddings, np.float64)
    moved = np.linalg.norm(original - output, axis=1)
    cosine = np.sum(original * output, axis=1) / (
        np.linalg.norm(original, axis=1) * np.linalg.norm(output, axis=1) + 1e-12)
    first, second = _genuine_pairs(identities)
    before = np.linalg.norm(original[first] - original[second], axis=1)
    after = np.linalg.norm(original[first] - output[second], axis=1)
    results = {}
    for rate, limit in sorted(far_thresholds.items()):
        results[f"tar_at_far_{rate:g}_same_photo"] = float(np.mean(moved < limit))
        results[f"tar_at_far_{rate:g}_other_photo"] = float(np.mean(after < limit)) if len(first) else None
    matched = before < threshold
    results["protection_success"] = float(np.mean(after[matched] >= threshold)) if matched.any() else None
    results["mean_distance"] = float(np.mean(moved))
    results["mean_cosine"] = float(np.mean(cosine))
    return results


def false_rejection_rate(embeddings_a, embeddings_b, threshold):
    """Share of same-person pairs the judge does not match (the paper's 'original test' row)."""
    return deidentification_rate(embeddings_a, embeddings_b, threshold)


# The paper's padded detection (Tables 3-5): 50 black pixels around each face crop, so the detector sees a whole face.
DETECTION_PADDING = 50


def detections(images_uint8, detector, padding=0):
    """Per face image, whether the detector finds a face in it, optionally after zero padding: bool `[N]`."""
    found = []
    for image in images_uint8:
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        if padding:
            image = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
        found.append(bool(detector.detect(np.ascontiguousarray(image))))
    return np.array(found, bool)


def detection_rate(images_uint8, detector, padding=0):
    """Share of face images in which the detector finds a face, optionally after zero padding (Tables 3-5)."""
    found = detections(images_uint8, detector, padding)
    return float(found.mean()) if len(found) else 0.0
