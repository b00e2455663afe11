"""The pretrained recognisers: packaged files, their checksums, and faces they must and must not match."""

import dataclasses

import cv2
import numpy as np
import pytest
import tensorflow as tf

from ppgan_tf.data import manifest
from ppgan_tf.faces import alignment, recognition
from ppgan_tf.faces.detection import FaceDetector
from ppgan_tf import wheel_files
from ppgan_tf.models import recognisers

PEOPLE, PHOTOS = ("s1", "s2", "s3", "s4"), ("1.png", "2.png")


@pytest.fixture(scope="module")
def orl_faces():
    """Two photos of each of four ORL people, detected and aligned as the project aligns faces."""
    root = manifest.resolve_source("builtin:orl").rsplit("/", 1)[0]
    detector = FaceDetector()
    crops = []
    for person in PEOPLE:
        for photo in PHOTOS:
            rgb = cv2.cvtColor(cv2.imread(f"{root}/images/{person}/{photo}", cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB)
            face = detector.detect(rgb)[0]
            crops.append(alignment.align_face(rgb, face.landmarks, 128, recognition.CROP_MARGIN).crop)
    return np.stack(crops)


@pytest.mark.parametrize("packaged", [recognition.SFACE_FILE, recognition.FACENET_FILE])
def test_packaged_files_match_their_checksums(packaged):
    path = wheel_files.packaged_file_path(packaged)
    assert wheel_files.sha256_of(path) == packaged.sha256


def test_a_missing_package_or_altered_file_is_refused(tmp_path):
    missing = dataclasses.replace(recognition.SFACE_FILE, package="no_such_package_here")
    with pytest.raises(ImportError, match="pip install"):
        wheel_files.packaged_file_path(missing)
    altered = dataclasses.replace(recognition.SFACE_FILE, sha256="0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        wheel_files.packaged_file_path(altered)


@pytest.mark.parametrize("name", ["sface", "facenet"])
def test_recognisers_match_the_same_person_and_not_others(orl_faces, name):
    recogniser = recognisers.load_recogniser(name)
    embeddings = recogniser.embed(orl_faces)
    assert embeddings.shape == (len(orl_faces), recogniser.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    distance = lambda a, b: np.linalg.norm(embeddings[a] - embeddings[b])  # noqa: E731
    # Photos 0 and 1 are s1, 2 and 3 are s2, ...
    for person in range(len(PEOPLE)):
        assert distance(2 * person, 2 * person + 1) < recogniser.threshold
        for other in range(person + 1, len(PEOPLE)):
            assert distance(2 * person, 2 * other) > recogniser.threshold


def test_sface_in_tensorflow_equals_the_onnx_file_under_onnxruntime(orl_faces):
    onnxruntime = pytest.importorskip("onnxruntime")
    sface = recognisers.load_recogniser("sface")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(recognition.sface_onnx_bytes(sface.path), options)
    low = recognition.template_edge(recognition.CROP_MARGIN)
    crops = recognisers.template_crop(tf.cast(orl_faces, tf.float32) / 127.5 - 1.0, (low, low, 1 - low, 1 - low), 112)
    blobs = ((crops.numpy() + 1.0) * 127.5).transpose(0, 3, 1, 2).astype(np.float32)
    expected = np.concatenate([session.run(None, {"data": blob[None]})[0] for blob in blobs])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(sface.embed(orl_faces), expected, atol=1e-4)


@pytest.mark.parametrize("name, opencv_class", [("sface", recognition.SFaceOpenCV),
                                                ("facenet", recognition.FaceNetOpenCV)])
def test_recognisers_under_opencv_give_the_tf_ones_embeddings_for_grey_and_rgb_faces(orl_faces, name, opencv_class):
    in_tf, opencv = recognisers.load_recogniser(name), opencv_class()
    grey = np.ascontiguousarray(orl_faces[..., :1])
    tinted = (orl_faces * np.array([1.0, 0.8, 0.6])).astype(np.uint8)  # channels differ: their order matters
    for faces in (grey, tinted):
        cosines = np.sum(in_tf.embed(faces) * opencv.embed(faces), axis=1)
        assert cosines.min() > 0.9999
    assert opencv.name == in_tf.name and opencv.threshold == in_tf.threshold
    assert opencv.embed(orl_faces[:0]).shape == (0, in_tf.embedding_dim)


@pytest.mark.parametrize("name", ["sface", "facenet"])
def test_recognisers_pass_gradients_to_the_faces(orl_faces, name):
    recogniser = recognisers.load_recogniser(name)
    faces = tf.Variable(tf.cast(orl_faces[:2], tf.float32) / 127.5 - 1.0)
    with tf.GradientTape() as tape:
        embeddings = recogniser(faces)
        similarity = tf.reduce_sum(embeddings[0] * embeddings[1])
    gradient = tape.gradient(similarity, faces)
    assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0


def test_sface_in_bfloat16_casts_its_weights_once_and_embeds_as_when_casting_every_call(orl_faces):
    import keras

    sface = recognisers.SFace()
    faces = tf.cast(orl_faces[:4], tf.float32) / 127.5 - 1.0
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        # Two traced functions: the cached weights must be usable by both (eager constants, not graph tensors).
        first, second = (tf.function(lambda x: sface(x))(faces) for _ in range(2))

        def cast_every_call(x):
            x = tf.cast((recognisers.template_crop(x, sface._box, 112) + 1.0) * 127.5, tf.bfloat16)
            for op, params in sface._program:
                x = op(x, *params)
            return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1)

        expected = tf.function(cast_every_call)(faces)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    weights = [p for _, params in sface._program_in("bfloat16") for p in params if isinstance(p, tf.Tensor)]
    assert weights and all(w.dtype == tf.bfloat16 for w in weights)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)
    # bfloat16 changes the embeddings a little, not the person.
    assert float(tf.reduce_min(tf.reduce_sum(first * sface(faces), axis=1))) > 0.99


def test_grey_faces_are_embedded_as_rgb(orl_faces):
    sface = recognisers.load_recogniser("sface")
    grey = orl_faces[..., :1]
    np.testing.assert_allclose(sface.embed(grey), sface.embed(orl_faces), atol=1e-5)


def test_unknown_recogniser_is_refused():
    with pytest.raises(ValueError, match="unknown recogniser"):
        recognisers.load_recogniser("arcface")


def test_sface_stage_features_are_the_maps_its_embedding_is_computed_from(orl_faces):
    sface = recognisers.load_recogniser("sface")
    faces = tf.constant(orl_faces[:2], tf.float32) / 127.5 - 1.0
    features = sface.stage_features(faces, stages=4)
    assert [tuple(f.shape[1:]) for f in features] == [(112, 112, 64), (56, 56, 128), (28, 28, 256), (14, 14, 512)]
    # The rest of the program from the last map gives SFace's embedding of the faces.
    x = features[-1]
    for op, params in sface._program[recognisers._stage_ends(sface._program)[-1] + 1:]:
        x = op(x, *params)
    np.testing.assert_allclose(tf.math.l2_normalize(x, axis=-1).numpy(), sface(faces).numpy(), atol=1e-5)
