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
prepare.define_settings_flags(FLAGS)
flags.DEFINE_integer("num_shards", 0, "TFRecord shards (0: the runner decides).")


def main(argv):
    settings = prepare.settings_from_flags(FLAGS)
    records = prepare.input_records(FLAGS.input)
    summary = beam_pipeline.run(records, FLAGS.output, settings, argv[1:], FLAGS.num_shards)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app.run(main)
