import numpy as np
import pytest

from ppgan_tf.data import records
from ppgan_tf.evaluation import attributes


def _bright_and_dark(count, seed):
    rng = np.random.default_rng(seed)
    labels = ["bright" if i % 2 else "dark" for i in range(count)]
    images = np.stack([
        np.clip(rng.normal(190 if label == "bright" else 60, 25, (32, 32, 1)), 0, 255).astype(np.uint8)
        for label in labels
    ])
    return images, labels


def test_a_classifier_learns_a_visible_attribute_and_fails_on_black_faces():
    images, labels = _bright_and_dark(64, 0)
    classifier = attributes.AttributeClassifier.train(images, labels, steps=60, batch_size=16)
    assert classifier.classes == ["bright", "dark"]
    test_images, test_labels = _bright_and_dark(40, 1)
    assert classifier.accuracy(test_images, test_labels) >= 0.9
    # A black mask erases the attribute: one class predicted for every face, half right.
    assert classifier.accuracy(np.zeros_like(test_images), test_labels) == pytest.approx(0.5)


def test_unknown_labels_are_left_out_and_one_class_is_refused():
    assert records.labelled(["male", "", "ambiguous", "female", "Unknown"]) == [0, 3]
    with pytest.raises(ValueError, match="2\\+ classes"):
        attributes.AttributeClassifier.train(np.zeros((4, 8, 8, 1), np.uint8), ["a"] * 4, steps=1)
