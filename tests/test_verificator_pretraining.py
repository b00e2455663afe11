"""Verificator pretraining with teachers: targets, their cache, and a distillation run on tiny data."""

import numpy as np
import pytest

from conftest import tiny_config, write_dataset
from ppgan_tf.data import images, manifest, split
from ppgan_tf.training import verificator_pretraining


class _Teacher:
    """A stand-in pretrained recogniser: the unit-normalised mean of each image row (`size`-d)."""

    calls = 0

    def embed(self, images_uint8):
        _Teacher.calls += 1
        rows = images_uint8.astype(np.float32).mean(axis=(2, 3)) - 100.0
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def faces(tmp_path):
    config = tiny_config()
    records = manifest.load_records(write_dataset(str(tmp_path / "faces"), people=6, per_person=4))
    train, test = split.split_records(records, 0.34, seed=0)
    load = lambda subset: images.load_faces(subset, config.image_size, config.channels)  # noqa: E731
    return load(train), load(test)


@pytest.fixture
def teacher(monkeypatch):
    _Teacher.calls = 0
    monkeypatch.setattr(verificator_pretraining.recognisers, "load_recogniser", lambda name: _Teacher())


def test_teacher_targets_cover_faces_and_mirror_images_and_are_cached(faces, teacher, tmp_path):
    train, _ = faces
    targets = verificator_pretraining.teacher_embeddings(train, ["a", "b"], str(tmp_path))
    one = _Teacher().embed(train.images)
    mirrored = _Teacher().embed(train.images[:, :, ::-1])
    assert targets.shape == (len(train.images), 2, 2 * one.shape[1])
    np.testing.assert_allclose(np.linalg.norm(targets, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(targets[:, 0, :one.shape[1]] * np.sqrt(2), one, atol=1e-5)
    np.testing.assert_allclose(targets[:, 1, one.shape[1]:] * np.sqrt(2), mirrored, atol=1e-5)
    calls = _Teacher.calls
    again = verificator_pretraining.teacher_embeddings(train, ["a", "b"], str(tmp_path))
    assert _Teacher.calls == calls  # read from the cache
    np.testing.assert_array_equal(again, targets)


def test_distillation_run_trains_and_names_its_teachers(faces, teacher, tmp_path):
    train, test = faces
    config = tiny_config(verificator_teachers="sface", verificator_steps=3)
    info = verificator_pretraining.train_verificator(config, train, test, str(tmp_path / "v"), log=lambda *_: None)
    assert info["teachers"] == ["sface"]
    assert 0.0 <= info["test_accuracy"] <= 1.0
    verificator, saved = verificator_pretraining.load_verificator(str(tmp_path / "v"))
    assert saved["teachers"] == ["sface"] and verificator.embedding_dim == config.embedding_dim
