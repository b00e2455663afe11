"""Classic de-identification baselines on aligned faces: blur, pixelation, a black mask, k-same."""

import cv2
import numpy as np


def gaussian_blur(images_uint8, sigma):
    """Each face blurred with a Gaussian of standard deviation `sigma` pixels."""
    return np.stack([cv2.GaussianBlur(image, (0, 0), sigma).reshape(image.shape) for image in images_uint8])


def pixelate(images_uint8, block):
    """Each face averaged over `block` x `block` pixel squares."""
    out = []
    for image in images_uint8:
        height, width = image.shape[:2]
        small = cv2.resize(image, (max(1, width // block), max(1, height // block)), interpolation=cv2.INTER_AREA)
        out.append(cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST).reshape(image.shape))
    return np.stack(out)


def black_mask(images_uint8):
    """Every face replaced by black: perfect privacy, no utility."""
    return np.zeros_like(images_uint8)


def k_same(images_uint8, k):
    """k-Same (Newton, Sweeney & Malin 2005), pixel space: each face becomes the mean of its k nearest faces.

    The k nearest include the face itself, so the result is the average of
    exactly k faces of the set.
    """
    if not 1 <= k <= len(images_uint8):
        raise ValueError(f"k={k} needs between 1 and {len(images_uint8)} faces")
    flat = images_uint8.reshape(len(images_uint8), -1).astype(np.float64)
    squared = np.sum(flat**2, axis=1)
    distances = squared[:, None] + squared[None, :] - 2 * flat @ flat.T
    np.fill_diagonal(distances, -1.0)  # a face is its own nearest neighbour
    nearest = np.argsort(distances, axis=1)[:, :k]
    means = flat[nearest].mean(axis=1)
    return np.clip(np.round(means), 0, 255).astype(np.uint8).reshape(images_uint8.shape)


def baseline_suite():
    """The baselines the paper-style comparison uses: name -> function of uint8 faces."""
    suite = {f"blur_sigma{s}": (lambda x, s=s: gaussian_blur(x, s)) for s in (2, 4, 8)}
    suite.update({f"pixelate_{b}": (lambda x, b=b: pixelate(x, b)) for b in (4, 8, 16)})
    suite["black_mask"] = black_mask
    suite.update({f"k_same_{k}": (lambda x, k=k: k_same(x, k)) for k in (2, 4, 8)})
    return suite
