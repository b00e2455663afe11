"""From photos to aligned training crops: detect, align, write crops and a manifest.

One function, `process_photo`, turns a photo into aligned crops or a reason
it could not; the local tool (`prepare_local`, all cores, resumable) and the
Apache Beam pipeline (`ppgan_tf.data.beam_pipeline`) both call it, so they
produce the same crops.
"""

import collections
import csv
import dataclasses
import json
import multiprocessing
import os
import time

import cv2

from ppgan_tf.data import images, manifest

PROGRESS_FILENAME = "progress.jsonl"
SUMMARY_FILENAME = "summary.json"
NO_FACE = "no face found"


@dataclasses.dataclass(frozen=True)
class PrepareSettings:
    """How faces are found and cropped.

    size: crop side; margin: see `ppgan_tf.faces.alignment`; policy:
    'largest', 'central' or 'all' faces of a photo; threshold and
    min_face_size: detector settings; max_side: photos are downscaled to
    this for detection.
    """

    size: int = 128
    margin: float = 0.2
    policy: str = "largest"
    threshold: float = 0.9
    min_face_size: int = 20
    max_side: int = 1280

    def make_detector(self):
        from ppgan_tf.faces.detection import FaceDetector

        return FaceDetector(self.threshold, self.min_face_size, self.max_side)


def define_settings_flags(flag_values):
    """absl flags for every `PrepareSettings` field (the local tool and the Beam pipeline share them)."""
    from absl import flags

    flags.DEFINE_enum("policy", "largest", ["largest", "central", "all"], "Which faces of a photo to keep.",
                      flag_values=flag_values)
    flags.DEFINE_integer("size", 128, "Side of the aligned crops.", flag_values=flag_values)
    flags.DEFINE_float("margin", 0.2, "Border around the 5-point template, as a fraction of its side.",
                       flag_values=flag_values)
    flags.DEFINE_float("threshold", 0.9, "Minimum detection confidence.", flag_values=flag_values)
    flags.DEFINE_integer("min_face_size", 20, "Smallest face side in pixels.", flag_values=flag_values)
    flags.DEFINE_integer("max_side", 1280, "Photos are downscaled to this longest side for detection.",
                         flag_values=flag_values)


def settings_from_flags(flag_values):
    return PrepareSettings(
        size=flag_values.size, margin=flag_values.margin, policy=flag_values.policy,
        threshold=flag_values.threshold, min_face_size=flag_values.min_face_size, max_side=flag_values.max_side,
    )


@dataclasses.dataclass
class PhotoResult:
    """The aligned faces of one photo, or the reason there are none."""

    record: manifest.FaceRecord
    crops: list = dataclasses.field(default_factory=list)  # AlignedFace
    faces: list = dataclasses.field(default_factory=list)  # Face
    problem: str = ""


def process_photo(record, detector, settings):
    """Detects, chooses and aligns the faces of one photo; never raises for bad input."""
    from ppgan_tf.faces import alignment, detection

    try:
        photo = images.decode_record(record, channels=3)
    except images.ImageError as error:
        return PhotoResult(record, problem=error.problem)
    chosen = detection.choose_faces(detector.detect(photo), settings.policy, photo.shape)
    if not chosen:
        return PhotoResult(record, problem=NO_FACE)
    crops = [alignment.align_face(photo, face.landmarks, settings.size, settings.margin) for face in chosen]
    return PhotoResult(record, crops=crops, faces=chosen)


def crop_path(key, index):
    """Relative path of a photo's index-th crop: crops/<key>_<index>.png, the photo's extension kept.

    Keeping the extension keeps `x.jpg` and `x.png` of one folder apart.
    Absolute keys and '..' never lead outside crops/: they are kept as names.
    """
    parts = [("__" if part == ".." else part) for part in os.path.normpath(key).split(os.sep) if part not in ("", ".")]
    return os.path.join("crops", f"{os.path.join(*parts)}_{index}.png")


def face_metadata(face, aligned):
    return {
        "score": round(face.score, 6),
        "box": [round(v, 2) for v in face.box],
        "landmarks": [[round(v, 2) for v in point] for point in face.landmarks.tolist()],
        "to_photo": [[round(v, 6) for v in row] for row in aligned.to_photo.tolist()],
    }


def read_photo_folder(root):
    """Every file under `root`, recursively; the identity is the file's folder ('' at the top)."""
    records = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            if name.startswith("."):
                continue
            key = os.path.relpath(os.path.join(folder, name), root)
            identity = os.path.dirname(key).replace(os.sep, "/")
            records.append(manifest.FaceRecord(key=key, path=os.path.join(folder, name), identity=identity))
    if not records:
        raise ValueError(f"{root}: no files")
    return records


def input_records(source):
    """Photos of a manifest CSV or, for a folder, every file in it."""
    return read_photo_folder(source) if os.path.isdir(source) else manifest.read_manifest(source)


# === The local tool: all cores, resumable ===

_worker = {}


def _start_worker(settings, output_dir):
    import tensorflow as tf

    # One thread per process: the pool already uses every core.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _worker.update(detector=settings.make_detector(), settings=settings, output_dir=output_dir)


def _process_and_write(record):
    result = process_photo(record, _worker["detector"], _worker["settings"])
    entry = {"key": record.key, "problem": result.problem, "faces": []}
    for index, (face, aligned) in enumerate(zip(result.faces, result.crops)):
        path = crop_path(record.key, index)
        full = os.path.join(_worker["output_dir"], path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if not cv2.imwrite(full, cv2.cvtColor(aligned.crop, cv2.COLOR_RGB2BGR)):
            return {"key": record.key, "problem": f"could not write {path}", "faces": []}
        entry["faces"].append({"path": path, **face_metadata(face, aligned)})
    return entry


def _read_progress(path):
    done = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: that photo is redone
                done[entry["key"]] = entry
    return done


def prepare_local(records, output_dir, settings, workers=None, log=print):
    """Detects and aligns the faces of `records` into `output_dir`; returns the summary.

    Writes crops/..., manifest.csv (path, identity, attributes, source,
    face, score) and summary.json. Each finished photo is appended to
    progress.jsonl after its crops are written, so a rerun skips it.
    """
    os.makedirs(output_dir, exist_ok=True)
    progress_path = os.path.join(output_dir, PROGRESS_FILENAME)
    done = _read_progress(progress_path)
    todo = [r for r in records if r.key not in done]
    log(f"{len(records)} photos: {len(records) - len(todo)} already done, {len(todo)} to process")
    started = time.time()
    workers = workers or os.cpu_count()
    if todo:
        context = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
        with context.Pool(workers, _start_worker, (settings, output_dir)) as pool, open(progress_path, "a") as progress:
            for count, entry in enumerate(pool.imap(_process_and_write, todo, chunksize=4), start=1):
                progress.write(json.dumps(entry) + "\n")
                progress.flush()
                done[entry["key"]] = entry
                if entry["problem"]:
                    log(f"skipped {entry['key']}: {entry['problem']}")
                if count % 200 == 0:
                    log(f"{count}/{len(todo)} photos, {count / (time.time() - started):.1f} photos/s")
    seconds = time.time() - started
    summary = summarize([done[r.key] for r in records], len(todo), seconds)
    write_manifest(records, done, os.path.join(output_dir, "manifest.csv"))
    with open(os.path.join(output_dir, SUMMARY_FILENAME), "w") as f:
        json.dump({"settings": dataclasses.asdict(settings), "workers": workers, **summary}, f, indent=2)
    return summary


def summarize(entries, processed_now, seconds):
    skipped = {e["key"]: e["problem"] for e in entries if e["problem"]}
    reasons = collections.Counter(problem.split(" (")[0] for problem in skipped.values())
    return {
        "photos": len(entries),
        "photos_with_faces": sum(1 for e in entries if e["faces"]),
        "faces": sum(len(e["faces"]) for e in entries),
        "skipped": dict(reasons),
        "skipped_files": skipped,
        "processed_this_run": processed_now,
        "seconds_this_run": round(seconds, 2),
        "photos_per_second": round(processed_now / seconds, 2) if processed_now and seconds else 0.0,
    }


def write_manifest(records, done, path):
    """The crops' manifest, readable by the training input (`--data=.../manifest.csv`)."""
    attribute_names = sorted({name for r in records for name, _ in r.attributes})
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "identity", *attribute_names, "source", "face", "score"])
        for record in records:
            for index, face in enumerate(done[record.key]["faces"]):
                writer.writerow(
                    [face["path"], record.identity, *(record.attribute(n) for n in attribute_names),
                     record.key, index, face["score"]]
                )
