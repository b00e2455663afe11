r"""Detects and aligns every face of a dataset into training crops and a manifest.

    python -m trainers.prepare_data --input=../shared/datasets/celeba_wild_dev/manifest.csv \
        --output=data/celeba_aligned --policy=largest

--input is a manifest CSV (identity and attributes are carried over) or a
folder (every file under it; a file's folder is its identity). Rerunning
skips the photos already done. Train on the result with
`python -m trainers.train_ppgan --data=OUTPUT/manifest.csv --channels=3`.
"""

import json

from absl import app, flags

from ppgan_tf.data import prepare

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Manifest CSV or folder of photos.", required=True)
flags.DEFINE_string("output", None, "Output folder for crops/, manifest.csv, summary.json.", required=True)
flags.DEFINE_enum("policy", "largest", ["largest", "central", "all"], "Which faces of a photo to keep.")
flags.DEFINE_integer("size", 128, "Side of the aligned crops.")
flags.DEFINE_float("margin", 0.2, "Border around the 5-point template, as a fraction of its side.")
flags.DEFINE_float("threshold", 0.9, "Minimum detection confidence.")
flags.DEFINE_integer("min_face_size", 20, "Smallest face side in pixels.")
flags.DEFINE_integer("max_side", 1280, "Photos are downscaled to this longest side for detection.")
flags.DEFINE_integer("workers", None, "Processes (default: all cores).")


def main(argv):
    del argv
    settings = prepare.PrepareSettings(
        FLAGS.size, FLAGS.margin, FLAGS.policy, FLAGS.threshold, FLAGS.min_face_size, FLAGS.max_side
    )
    summary = prepare.prepare_local(prepare.input_records(FLAGS.input), FLAGS.output, settings, FLAGS.workers)
    summary.pop("skipped_files")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
