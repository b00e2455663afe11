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


def test_blended_distillation_faces_train_and_leave_the_contrastive_loss(faces, monkeypatch, tmp_path):
    """With every face blended no pair keeps its label: the contrastive term is gone and distillation alone trains V."""
    monkeypatch.setattr(verificator_pretraining.recognisers, "load_recogniser", lambda name: _Teacher())
    train, test = faces
    runs = {}
    for name, changes in (("blended", dict(verificator_blend_share=1.0)),
                          ("blended_no_contrastive_weight", dict(verificator_blend_share=1.0, margin=0.5))):
        config = tiny_config(verificator_teachers="sface", verificator_steps=2, **changes)
        verificator_pretraining.train_verificator(config, train, test, str(tmp_path / name), log=lambda *_: None)
        runs[name] = _weights(str(tmp_path / name))
    # The margin only acts through the contrastive loss: with every pair blended it changes nothing.
    for first, second in zip(runs["blended"], runs["blended_no_contrastive_weight"]):
        np.testing.assert_allclose(first, second, atol=1e-6)
    with pytest.raises(ValueError, match="needs verificator_teachers"):
        tiny_config(verificator_blend_share=0.5)


def _weights(directory):
    verificator, _ = verificator_pretraining.load_verificator(directory)
    return [np.array(w) for w in verificator.get_weights()]


def test_a_rerun_resumes_from_the_latest_checkpoint_and_logs_test_accuracy(faces, monkeypatch, tmp_path):
    monkeypatch.setattr(verificator_pretraining.recognisers, "load_recogniser", lambda name: _Teacher())
    train, test = faces
    lines = []
    run = lambda steps, out: verificator_pretraining.train_verificator(  # noqa: E731
        tiny_config(verificator_teachers="sface", verificator_steps=steps, checkpoint_every=2), train, test,
        str(tmp_path / out), log=lines.append, checkpoint_dir=str(tmp_path / "checkpoints"),
        log_dir=str(tmp_path / "logs"))
    run(2, "first")
    assert any(line.startswith("verificator: step 2,") and "test accuracy" in line for line in lines)
    assert tf.io.gfile.glob(str(tmp_path / "logs" / "events.*"))
    # Nothing left to train: the rerun restores step 2 and saves the same V.
    info = run(2, "again")
    assert any("resumed from step 2" in line for line in lines)
    for saved, restored in zip(_weights(str(tmp_path / "first")), _weights(str(tmp_path / "again"))):
        np.testing.assert_array_equal(saved, restored)
    assert info["steps"] == 2
    # Going on trains from there: the weights move.
    run(4, "longer")
    assert any(line.startswith("verificator: step 4,") for line in lines)
    moved = [np.abs(a - b).max() for a, b in zip(_weights(str(tmp_path / "first")), _weights(str(tmp_path / "longer")))]
    assert max(moved) > 0


def test_cosine_decay_reaches_zero_at_the_last_step():
    config = tiny_config(verificator_learning_rate=1e-3, verificator_steps=10, verificator_decay="cosine")
    schedule = verificator_pretraining._learning_rate(config)
    assert float(schedule(0)) == pytest.approx(1e-3) and float(schedule(10)) == pytest.approx(0.0, abs=1e-9)
    assert verificator_pretraining._learning_rate(tiny_config(verificator_learning_rate=1e-3)) == 1e-3
