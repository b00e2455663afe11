"""Verificator pretraining with teachers: their targets and a distillation run on tiny data."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_config, write_dataset
from ppgan_tf.data import images, manifest, split
from ppgan_tf.training import verificator_pretraining


class _Teacher:
    """A stand-in pretrained recogniser: the unit-normalised mean of each image row, minus a constant."""

    embedding_dim = 32  # one value per row of the tiny config's 32 px faces

    def __init__(self, offset=0.0):
        self.offset = offset

    def __call__(self, faces):
        rows = tf.reduce_mean(tf.cast(faces, tf.float32), axis=[2, 3]) - self.offset
        return tf.math.l2_normalize(rows, axis=-1)


@pytest.fixture
def faces(tmp_path):
    config = tiny_config()
    records = manifest.load_records(write_dataset(str(tmp_path / "faces"), people=6, per_person=4))
    train, test = split.split_records(records, 0.34, seed=0)
    load = lambda subset: images.load_faces(subset, config.image_size, config.channels)  # noqa: E731
    return load(train), load(test)


def test_teacher_targets_are_unit_vectors_whose_cosines_average_the_teachers():
    first, second = _Teacher(0.0), _Teacher(0.3)
    targets = verificator_pretraining.teacher_targets([first, second])
    faces = tf.random.uniform([4, 8, 8, 1], -1, 1, seed=3)
    combined = targets(faces).numpy()
    np.testing.assert_allclose(np.linalg.norm(combined, axis=1), 1.0, atol=1e-5)
    cosine = lambda e: (e @ e.T)  # noqa: E731
    expected = (cosine(first(faces).numpy()) + cosine(second(faces).numpy())) / 2
    np.testing.assert_allclose(cosine(combined), expected, atol=1e-5)


def test_distillation_run_trains_and_names_its_teachers(faces, monkeypatch, tmp_path):
    monkeypatch.setattr(verificator_pretraining.recognisers, "load_recogniser", lambda name: _Teacher())
    train, test = faces
    config = tiny_config(verificator_teachers="sface", verificator_steps=3)
    info = verificator_pretraining.train_verificator(config, train, test, str(tmp_path / "v"), log=lambda *_: None)
    assert info["teachers"] == ["sface"]
    assert 0.0 <= info["test_accuracy"] <= 1.0
    verificator, saved = verificator_pretraining.load_verificator(str(tmp_path / "v"))
    assert saved["teachers"] == ["sface"] and verificator.embedding_dim == config.embedding_dim
