"""Face records from a manifest CSV, a folder-per-identity tree, or the built-in set."""

import csv
import dataclasses
import os

import tensorflow as tf

from ppgan_tf.data import tfrecords
from ppgan_tf.data.records import FaceRecord

BUILTIN_PREFIX = "builtin:"
BUILTIN_ROOT = os.path.join(os.path.dirname(__file__), "builtin")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


def resolve_source(source):
    """Maps 'builtin:NAME' to the manifest shipped in the package."""
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX):]
        path = os.path.join(BUILTIN_ROOT, name, "manifest.csv")
        if not os.path.isfile(path):
            available = sorted(os.listdir(BUILTIN_ROOT))
            raise ValueError(f"No built-in dataset {name!r}; available: {available}")
        return path
    return source


def read_manifest(path):
    """Reads `path,identity[,attribute...]` rows; paths relative to the CSV's folder.

    The identity column may be missing (then every identity is ''), the
    other columns become attributes.
    """
    root = os.path.dirname(path if "://" in path else os.path.abspath(path))
    with tf.io.gfile.GFile(path, "r") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise ValueError(f"{path}: a manifest needs a 'path' column, found {reader.fieldnames}")
        extra = [c for c in reader.fieldnames if c not in ("path", "identity")]
        records = []
        for line, row in enumerate(reader, start=2):
            if not row["path"]:
                raise ValueError(f"{path}:{line}: empty path")
            records.append(
                FaceRecord(
                    key=row["path"],
                    path=os.path.join(root, row["path"]),
                    identity=row.get("identity") or "",
                    attributes=tuple((c, row[c] or "") for c in extra),
                )
            )
    if not records:
        raise ValueError(f"{path}: the manifest lists no images")
    return records


def read_folder_tree(root):
    """Reads `root/<identity>/<image>`: each sub-folder is one person."""
    records = []
    for identity in sorted(os.listdir(root)):
        folder = os.path.join(root, identity)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                key = f"{identity}/{name}"
                records.append(FaceRecord(key=key, path=os.path.join(folder, name), identity=identity))
    if not records:
        raise ValueError(f"{root}: no images in identity sub-folders ({', '.join(IMAGE_EXTENSIONS)})")
    return records


def load_records(source):
    """Face records of a data source: a manifest CSV, a folder tree, TFRecords, or 'builtin:NAME'.

    TFRecords (a file pattern containing '.tfrecord', as written by the Beam
    preprocessing) are read whole, their crops kept in memory. Several sources
    joined by commas are read as one dataset (see `combine_sources`).
    """
    if "," in source:
        return combine_sources([part.strip() for part in source.split(",") if part.strip()])
    return _load_one_source(source)


def source_name(source):
    """A short name for a source: its manifest's folder, or the folder itself."""
    path = resolve_source(source)
    folder = os.path.dirname(os.path.abspath(path)) if os.path.isfile(path) else path.rstrip("/")
    return os.path.basename(folder)


def combine_sources(sources):
    """The records of several sources as one dataset.

    Every record gains the attribute `dataset` (its source's folder name), so
    `--stratify_by=dataset` splits each source on its own, exactly as a run on
    that source alone would. Keys are prefixed with that name to stay unique;
    identities are kept, except that a photo without one (UTKFace) becomes its
    own person, named by its key.
    """
    names = [source_name(source) for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"data sources {sources}: two have the same folder name {names}")
    records = []
    for source, name in zip(sources, names):
        for record in _load_one_source(source):
            records.append(dataclasses.replace(
                record, key=f"{name}/{record.key}",
                attributes=(*[a for a in record.attributes if a[0] != "dataset"], ("dataset", name)),
            ))
    return each_photo_a_person(records)


def each_photo_a_person(records):
    """Records whose identity is missing become their own person, named by their key."""
    return [record if record.identity else dataclasses.replace(record, identity=record.key) for record in records]


def _load_one_source(source):
    if tfrecords.is_tfrecord_source(source):
        return tfrecords.read_face_records(source)
    path = resolve_source(source)
    if os.path.isdir(path):
        return read_folder_tree(path)
    if os.path.isfile(path):
        return read_manifest(path)
    raise FileNotFoundError(f"Data source {source!r} is neither a manifest CSV nor a folder")
