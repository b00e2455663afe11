"""Aligned face crops as TFRecords of `tf.train.Example`s, and reading them back for training.

Features of one example (one face):
    image            PNG-encoded aligned crop (RGB)
    key              the source photo's key
    face             index of the face in that photo
    identity         identity label ('' if unknown)
    attribute_names, attribute_values   the manifest's other columns
    score            detection confidence
    landmarks        10 floats: the 5 (x, y) landmarks in the photo
    to_photo         6 floats: the 2x3 crop -> photo transform
"""

import glob

import cv2
import tensorflow as tf

from ppgan_tf.data.records import FaceRecord

_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "key": tf.io.FixedLenFeature([], tf.string),
    "face": tf.io.FixedLenFeature([], tf.int64),
    "identity": tf.io.FixedLenFeature([], tf.string),
    "attribute_names": tf.io.VarLenFeature(tf.string),
    "attribute_values": tf.io.VarLenFeature(tf.string),
}


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() if isinstance(v, str) else v for v in values]))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def face_example(record, index, face, aligned):
    """The `tf.train.Example` of a photo's index-th aligned face."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(aligned.crop, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{record.key}: could not encode face {index} as PNG")
    names = [name for name, _ in record.attributes]
    values = [value for _, value in record.attributes]
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "image": _bytes([png.tobytes()]),
                "key": _bytes([record.key]),
                "face": tf.train.Feature(int64_list=tf.train.Int64List(value=[index])),
                "identity": _bytes([record.identity]),
                "attribute_names": _bytes(names),
                "attribute_values": _bytes(values),
                "score": _floats([face.score]),
                "landmarks": _floats(face.landmarks.reshape(-1)),
                "to_photo": _floats(aligned.to_photo.reshape(-1)),
            }
        )
    )


def is_tfrecord_source(source):
    return ".tfrecord" in source


def read_face_records(pattern):
    """`FaceRecord`s (image bytes in `data`) of every example in the files matching `pattern`."""
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"No TFRecord files match {pattern!r}")
    records = []
    for serialized in tf.data.TFRecordDataset(files):
        example = tf.io.parse_single_example(serialized, _FEATURES)
        names = [n.decode() for n in tf.sparse.to_dense(example["attribute_names"]).numpy()]
        values = [v.decode() for v in tf.sparse.to_dense(example["attribute_values"]).numpy()]
        key = f"{example['key'].numpy().decode()}#{int(example['face'])}"
        records.append(
            FaceRecord(
                key=key,
                path=pattern,
                identity=example["identity"].numpy().decode(),
                attributes=tuple(zip(names, values)),
                data=example["image"].numpy(),
            )
        )
    return sorted(records, key=lambda r: r.key)
