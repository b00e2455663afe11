"""Parity of every artefact with the trained model, blessing, and pushing to a serving base.

As TFX's Evaluator and Pusher: a model is blessed when its privacy and
utility pass their thresholds and every exported format keeps the utility
threshold and loses at most 1 point of privacy;
only a blessed model is copied into the serving base, atomically, and a
serving version is never overwritten.
"""

import dataclasses
import os
import shutil

import numpy as np

from ppgan_tf import metrics

MAX_DEID_DROP = 0.01  # a format may lose at most 1 point of de-identification rate


def loses_too_much_privacy(drop):
    """Whether a drop in de-identification rate exceeds MAX_DEID_DROP (exactly 1 point is allowed)."""
    return drop > MAX_DEID_DROP + 1e-9  # 0.85 - 0.84 is 0.0100000000000000089 in floats


def psnr(reference, output):
    """PSNR in dB between uint8 images (inf when identical)."""
    mse = np.mean((reference.astype(np.float64) - output.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def score(originals, outputs, embed, threshold):
    """De-identification rate and mean SSIM of de-identified uint8 faces."""
    return {
        "deid_rate": metrics.deidentification_rate(embed(originals), embed(outputs), threshold),
        "ssim": float(np.mean(metrics.ssim_of_uint8(originals, outputs))),
    }


def parity(reference, output, originals, embed, threshold):
    """How one artefact's outputs compare with the Keras model's on the same faces and noise."""
    return {
        "max_abs_error": int(np.abs(reference.astype(int) - output.astype(int)).max()),
        "psnr_db": psnr(reference, output),
        **score(originals, output, embed, threshold),
    }


@dataclasses.dataclass
class Thresholds:
    min_deid_rate: float = 0.9
    min_ssim: float = 0.5


def bless(reference_scores, format_rows, thresholds):
    """(blessed, reasons): the failing metrics, named, when not blessed."""
    reasons = []
    if reference_scores["deid_rate"] < thresholds.min_deid_rate:
        reasons.append(f"deid_rate {reference_scores['deid_rate']:.3f} < {thresholds.min_deid_rate}")
    if reference_scores["ssim"] < thresholds.min_ssim:
        reasons.append(f"ssim {reference_scores['ssim']:.3f} < {thresholds.min_ssim}")
    for name, row in format_rows.items():
        drop = reference_scores["deid_rate"] - row["deid_rate"]
        if loses_too_much_privacy(drop):
            reasons.append(f"{name} deid_rate {row['deid_rate']:.3f} is {drop:.3f} below float32 (max {MAX_DEID_DROP})")
        if row["ssim"] < thresholds.min_ssim:
            reasons.append(f"{name} ssim {row['ssim']:.3f} < {thresholds.min_ssim}")
    return not reasons, reasons


class PushRefused(RuntimeError):
    pass


def check_push_target(serving_base, model_name):
    """Raises PushRefused unless SERVING_BASE/MODEL_NAME is (or can be) a folder; checked before any work."""
    for path in (serving_base, os.path.join(serving_base, model_name)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise PushRefused(f"--push_to: {path} is a file, not a folder")
    parent = os.path.abspath(serving_base)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise PushRefused(f"--push_to: cannot create folders under {parent}")


def push(savedmodel_version_dir, serving_base, model_name, blessed, reasons=()):
    """Copies a SavedModel version into SERVING_BASE/MODEL_NAME/<next version>.

    The copy is written beside its target and renamed into place, so TF
    Serving never sees half a model; existing versions are never touched.
    Returns the new version's path.

    Raises:
        PushRefused: the model is not blessed (the reasons are named).
    """
    if not blessed:
        raise PushRefused("not blessed, not pushed: " + "; ".join(reasons))
    check_push_target(serving_base, model_name)
    model_dir = os.path.join(serving_base, model_name)
    os.makedirs(model_dir, exist_ok=True)
    versions = [int(v) for v in os.listdir(model_dir) if v.isdigit()]
    version = max([int(os.path.basename(savedmodel_version_dir)), *[v + 1 for v in versions]])
    target = os.path.join(model_dir, str(version))
    staging = os.path.join(model_dir, f".staging-{version}-{os.getpid()}")
    try:
        shutil.copytree(savedmodel_version_dir, staging)
        os.rename(staging, target)  # atomic on one filesystem; fails rather than overwrite
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
