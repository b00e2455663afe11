r"""Exports a trained run's generator for serving and devices, checks each artefact, and pushes if blessed.

    python -m export.export_model --workdir=ppgan_runs/default
    python -m export.export_model --workdir=W --formats=savedmodel,tflite,onnx --push_to=/srv/models

Writes WORKDIR/export/: savedmodel/<model_name>/<version>/ (TF Serving layout,
with warm-up requests), models.config, tflite/ (float32, float16, dynamic and
full int8, each with its input contract), onnx/, export_report.json and
MODEL_CARD.md. Prints the parity table.
"""

from absl import app, flags

from export import blessing, exporter, tflite

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "ppgan_runs/default", "Work directory of a finished training run.")
flags.DEFINE_list("formats", list(exporter.FORMATS), "Artefacts to export.")
flags.DEFINE_list("tflite_variants", list(tflite.VARIANTS), "TFLite variants to export.")
flags.DEFINE_string("model_name", "ppgan", "Model name in TF Serving.")
flags.DEFINE_string("push_to", None, "TF Serving base directory to push a blessed SavedModel into.")
flags.DEFINE_float("min_deid_rate", blessing.Thresholds.min_deid_rate, "Blessing: lowest de-identification rate.")
flags.DEFINE_float("min_ssim", blessing.Thresholds.min_ssim, "Blessing: lowest mean SSIM.")
flags.DEFINE_integer("max_faces", 64, "Test faces used for parity and scores.")


def main(argv):
    del argv
    report = exporter.export_run(
        FLAGS.workdir, FLAGS.formats, FLAGS.model_name,
        blessing.Thresholds(FLAGS.min_deid_rate, FLAGS.min_ssim), FLAGS.push_to, FLAGS.max_faces,
        FLAGS.tflite_variants,
    )
    print(exporter.format_table(report))
    if FLAGS.push_to and "pushed_to" not in report:
        raise SystemExit(1)


if __name__ == "__main__":
    app.run(main)
