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
prepare.define_settings_flags(FLAGS)
flags.DEFINE_integer("workers", None, "Processes (default: all cores).")


def main(argv):
    del argv
    settings = prepare.settings_from_flags(FLAGS)
    summary = prepare.prepare_local(prepare.input_records(FLAGS.input), FLAGS.output, settings, FLAGS.workers)
    summary.pop("skipped_files")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
