"""The four-setting ablation on a tiny run."""

import json
import os

import cv2
import pytest

from ppgan_tf.losses import SETTINGS


@pytest.mark.slow
def test_the_ablation_trains_and_judges_the_four_settings_alike(tiny_ablation):
    _, workdir, report = tiny_ablation
    assert set(SETTINGS) <= set(report["methods"]) and "k_same_2" in report["methods"]
    assert {"judges", "groups", "attributes", "test_faces"} <= set(report) and "setting" not in report
    for setting in SETTINGS:
        with open(os.path.join(workdir, setting, "config.json")) as f:
            saved = json.load(f)
        assert saved["setting"] == setting
        assert saved["verificator_dir"] == os.path.abspath(os.path.join(workdir, "verificator"))
    # One judge for all: the same threshold in every setting's report.
    thresholds = set()
    for setting in SETTINGS:
        with open(os.path.join(workdir, setting, "evaluation", "report.json")) as f:
            thresholds.add(json.load(f)["judges"]["triplet"]["threshold"])
    assert len(thresholds) == 1
    for name in ("ablation.json", "ablation.md", "tradeoff.png", "deidentified.png"):
        assert os.path.exists(os.path.join(workdir, name)), name
    comparison = cv2.imread(os.path.join(workdir, "comparison.png"))
    assert comparison.shape[0] == 5 * (32 + 2)  # originals + one row per setting
