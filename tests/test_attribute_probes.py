import numpy as np
import pytest

from ppgan_tf.training import attribute_probes


def _clusters(count=400, dim=16, seed=0):
    """Unit embeddings of two classes on either side of one direction, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(count) < 0.3, "female", "male")
    x = rng.normal(size=(count, dim)).astype(np.float32)
    x[:, 0] += np.where(labels == "female", 1.5, -1.5)
    return x / np.linalg.norm(x, axis=1, keepdims=True), list(labels)


def test_a_probe_reads_the_attribute_off_held_out_embeddings():
    x, labels = _clusters()
    probe = attribute_probes.fit_probe("gender", x, labels)
    assert probe.classes == ("female", "male") and probe.weights.shape == (16, 2)
    assert probe.held_out_accuracy > 0.9
    predicted = np.argmax(probe.logits(x).numpy(), axis=1)
    assert np.mean(np.array(probe.classes)[predicted] == np.array(labels)) > 0.9


def test_unknown_labels_are_left_out_and_one_class_is_refused():
    x, labels = _clusters()
    labels = [label if i % 3 else "" for i, label in enumerate(labels)]
    labels[1] = "ambiguous"
    assert attribute_probes.fit_probe("gender", x, labels).classes == ("female", "male")
    with pytest.raises(ValueError, match="'gender'.*two or more"):
        attribute_probes.fit_probe("gender", x, ["male" if i % 2 else "" for i in range(len(x))])


def test_classes_of_takes_the_known_labels_and_reads_the_rest():
    x, labels = _clusters()
    probe = attribute_probes.fit_probe("gender", x, labels)
    reading = np.argmax(probe.logits(x).numpy(), axis=1)
    flipped = ["male" if label == "female" else "female" for label in labels]  # every known label against the reading
    given = [label if i % 3 else ("unknown" if i % 2 else "") for i, label in enumerate(flipped)]
    expected = [probe.classes.index(label) if i % 3 else reading[i] for i, label in enumerate(flipped)]
    np.testing.assert_array_equal(probe.classes_of(x, given), expected)
    np.testing.assert_array_equal(probe.classes_of(x), reading)


def test_a_balanced_probe_weighs_the_minority_class_up_and_reads_more_of_it():
    # Overlapping classes, 30% female: unbalanced, the overlap is read as the majority.
    x, labels = _clusters(count=2000, seed=1)
    x[:, 0] *= 0.3
    plain = attribute_probes.fit_probe("gender", x, labels)
    balanced = attribute_probes.fit_probe("gender", x, labels, balanced=True)
    np.testing.assert_allclose(plain.class_weights, [1.0, 1.0])
    share = np.mean(np.array(labels) == "female")
    np.testing.assert_allclose(balanced.class_weights, [0.5 / share, 0.5 / (1 - share)], rtol=1e-5)
    women = np.array(labels) == "female"

    def women_read_as_women(probe):
        return np.mean(np.argmax(probe.logits(x[women]).numpy(), axis=1) == 0)

    assert women_read_as_women(balanced) > women_read_as_women(plain) + 0.05
