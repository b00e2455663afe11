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


class _Brightness:
    """A stand-in recogniser: unit 'embeddings' of a face's mean brightness."""

    def embed(self, images_uint8):
        level = images_uint8.reshape(len(images_uint8), -1).mean(axis=1) / 127.5 - 1.0
        vectors = np.stack([level, np.full_like(level, 0.5)], axis=1).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_probe_on_embeddings_reads_the_attribute_and_names_the_class_a_flip_takes_away():
    images, labels = _bright_and_dark(64, 0)
    classifier = attributes.EmbeddingAttributeClassifier.train(_Brightness(), images, labels, attribute="tone")
    assert classifier.classes == ["bright", "dark"] and classifier.probe.attribute == "tone"
    test_images, test_labels = _bright_and_dark(40, 1)
    assert classifier.accuracy(test_images, test_labels) >= 0.9
    assert classifier.kept_by_class(test_images, test_labels) == {"bright": 1.0, "dark": 1.0}
    # Every face made dark: the mean halves, and the per-class shares say which class was lost.
    darkened = np.zeros_like(test_images)
    assert classifier.kept_by_class(darkened, test_labels) == {"bright": 0.0, "dark": 1.0}
    assert classifier.accuracy(darkened, test_labels) == pytest.approx(0.5)
