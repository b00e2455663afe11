r"""Face detectors on real photos: recall, agreement with MTCNN, speed.

    python -m benchmarks.detectors --manifest=../shared/datasets/celeba_wild_dev/manifest.csv \
        --out=runs/bench/detectors.json [--max_photos=0] [--threads=2]

Every photo of the manifest holds at least one face, so a detector's recall
here is the share of photos in which it finds one. Agreement: on photos where
both find a face, the share whose largest faces overlap (IoU >= 0.5), and the
mean landmark distance over the eye distance. Speed: milliseconds a photo
(decoding excluded), after one warm-up photo, in one process so the ratios
compare.
"""

import os
import time

import numpy as np
from absl import app, flags

from benchmarks import write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("manifest", None, "Manifest CSV of photos (path column, relative to the CSV).")
flags.DEFINE_string("out", None, "JSON results path.")
flags.DEFINE_integer("max_photos", 0, "Cap on photos (0: all).")
flags.DEFINE_float("threshold", 0.9, "Confidence threshold of every detector.")
flags.DEFINE_list("detectors", ["mtcnn", "yunet"], "Detectors to compare; the first is the reference.")
flags.mark_flags_as_required(["manifest", "out"])


def largest(faces):
    return max(faces, key=lambda face: face.area) if faces else None


def iou(a, b):
    from ppgan_tf.deidentify.tracking import iou as box_iou

    return box_iou(a.box, b.box)


def main(argv):
    del argv
    from ppgan_tf.data import images, manifest
    from ppgan_tf.faces import detection

    records = manifest.load_records(FLAGS.manifest)[: FLAGS.max_photos or None]
    photos = [images.decode_image(record.path, 3) for record in records]
    results, found = {}, {}
    for name in FLAGS.detectors:
        started = time.perf_counter()
        detector = detection.make_detector(name, threshold=FLAGS.threshold)
        detector.detect(photos[0])  # warm-up
        setup = time.perf_counter() - started
        started = time.perf_counter()
        found[name] = [detector.detect(photo) for photo in photos]
        seconds = time.perf_counter() - started
        results[name] = {"recall": float(np.mean([bool(faces) for faces in found[name]])),
                         "faces": int(sum(len(faces) for faces in found[name])),
                         "ms_per_photo": 1000 * seconds / len(photos), "setup_seconds": setup}
    reference = FLAGS.detectors[0]
    for name in FLAGS.detectors[1:]:
        pairs = [(largest(a), largest(b)) for a, b in zip(found[reference], found[name]) if a and b]
        overlaps = [iou(a, b) for a, b in pairs]
        eye_distance = [np.linalg.norm(a.landmarks[0] - a.landmarks[1]) for a, _ in pairs]
        landmark_error = [np.mean(np.linalg.norm(a.landmarks - b.landmarks, axis=1)) / max(d, 1.0)
                          for (a, b), d in zip(pairs, eye_distance)]
        results[name].update(both_found=len(pairs), same_largest_face=float(np.mean(np.array(overlaps) >= 0.5)),
                             landmark_error_over_eye_distance=float(np.median(landmark_error)),
                             recall_minus_reference=results[name]["recall"] - results[reference]["recall"],
                             speedup=results[reference]["ms_per_photo"] / results[name]["ms_per_photo"])
    summary = {"manifest": FLAGS.manifest, "photos": len(photos), "threshold": FLAGS.threshold,
               "cpu_count": os.cpu_count(), "detectors": results}
    write_json(FLAGS.out, summary)
    print(f"{len(photos)} photos of {FLAGS.manifest}, threshold {FLAGS.threshold}")
    print("| detector | recall | faces | ms/photo | same largest face as " + reference + " | landmark error / eye distance |")
    print("|---|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['recall']:.3f} | {row['faces']} | {row['ms_per_photo']:.1f} | "
              f"{row.get('same_largest_face', 1.0):.3f} | {row.get('landmark_error_over_eye_distance', 0.0):.3f} |")


if __name__ == "__main__":
    app.run(main)
