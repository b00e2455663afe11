r"""The face preprocessing as an Apache Beam pipeline (pip install -e ".[beam]").

    python -m trainers.prepare_data_beam --input=PHOTOS --output=OUT -- --runner=DirectRunner \
        --direct_num_workers=2 --direct_running_mode=multi_processing

Arguments after `--` are Beam pipeline options (e.g. --runner=DataflowRunner
--project=... --region=... --temp_location=gs://...). Writes sharded
TFRecords that training reads directly: `--data=OUT/faces-*.tfrecord`.
"""

import json

from absl import app, flags

from ppgan_tf.data import beam_pipeline, prepare

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Manifest CSV or folder of photos.", required=True)
flags.DEFINE_string("output", None, "Output folder for the TFRecords and summary.", required=True)
flags.DEFINE_enum("policy", "largest", ["largest", "central", "all"], "Which faces of a photo to keep.")
flags.DEFINE_integer("size", 128, "Side of the aligned crops.")
flags.DEFINE_float("margin", 0.2, "Border around the 5-point template, as a fraction of its side.")
flags.DEFINE_float("threshold", 0.9, "Minimum detection confidence.")
flags.DEFINE_integer("min_face_size", 20, "Smallest face side in pixels.")
flags.DEFINE_integer("max_side", 1280, "Photos are downscaled to this longest side for detection.")
flags.DEFINE_integer("num_shards", 0, "TFRecord shards (0: the runner decides).")


def main(argv):
    settings = prepare.PrepareSettings(
        FLAGS.size, FLAGS.margin, FLAGS.policy, FLAGS.threshold, FLAGS.min_face_size, FLAGS.max_side
    )
    records = prepare.input_records(FLAGS.input)
    summary = beam_pipeline.run(records, FLAGS.output, settings, argv[1:], FLAGS.num_shards)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
