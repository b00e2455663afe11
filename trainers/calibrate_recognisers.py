r"""Measures the pretrained recognisers on a dataset's held-out people: 10-fold pair accuracy and threshold.

    python -m trainers.calibrate_recognisers --data=runs/prep_lfw/manifest.csv --pairs=1200

The test people are those a run on --data with the same --seed and
--test_fraction holds out (split by identity); pairs are half same-person.
"""

import time

from absl import app, flags

from ppgan_tf.data import images, manifest, split
from ppgan_tf.models import recognisers
from ppgan_tf.training import verificator_pretraining

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Prepared (aligned) faces: a manifest CSV.")
flags.DEFINE_list("recognisers", sorted(recognisers.RECOGNISERS), "Recognisers to measure.")
flags.DEFINE_integer("pairs", 1200, "Test pairs, half same-person.")
flags.DEFINE_float("test_fraction", 0.1, "Share of people held out, as in a run.")
flags.DEFINE_integer("seed", 0, "Split and pair seed, as in a run.")
flags.mark_flag_as_required("data")


def main(argv):
    del argv
    _, test = split.split_records(manifest.load_records(FLAGS.data), FLAGS.test_fraction, "identity", "", FLAGS.seed)
    faces = images.load_faces(test, 128, 3)
    print(f"{len(faces.records)} test faces of {len(set(faces.identities))} people, {FLAGS.pairs} pairs")
    print("| recogniser | 10-fold accuracy | 10-fold threshold | published threshold | ms a face |")
    print("|---|---|---|---|---|")
    for name in FLAGS.recognisers:
        recogniser = recognisers.load_recogniser(name)
        started = time.time()
        result = verificator_pretraining.evaluate_verificator(recogniser, faces, FLAGS.pairs, FLAGS.seed)
        milliseconds = 1000 * (time.time() - started) / len(faces.records)
        print(f"| {name} | {result.accuracy:.4f} | {result.threshold:.3f} | {recogniser.threshold:.3f} "
              f"| {milliseconds:.1f} |")


if __name__ == "__main__":
    app.run(main)
