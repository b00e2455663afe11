r"""Packages a trained run as the pretrained model that ships inside ppgan-tf.

    python -m export.package_model --workdir=runs/shipped --out=ppgan_tf/pretrained [--step=4500 | --step=4000,4250,4500]
    python -m export.package_model --card_only --evaluations=a/report.json,b/report.json --notes=notes.md

Writes the generator and verificator with float16 weights, the same generator as
TFLite (`generator.float16.tflite`, what the de-identifier runs), `model.json`
(configs, threshold, training facts, sha256 of each file) into --out, after
checking that neither loses anything measurable: on the run's test faces, with
the same noise, the float16 Keras generator's and the TFLite generator's outputs
are compared with float32's (maximum error, PSNR, SSIM, and the
de-identification rate by SFace, dlib when installed). The check is printed and
saved as `package_report.json` beside the model; a model whose packaged outputs
lose more than 1 point of de-identification rate or 0.005 SSIM is refused
(exit 1) and nothing is written. `--card_only` rewrites the
model card of the package in --out (after a new evaluation) and leaves its
weights, model.json and package check as they are.
"""

import json

from absl import app, flags

from export import packaging
from ppgan_tf import packaged

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Work directory of a finished training run.")
flags.DEFINE_string("out", packaged.PACKAGED_DIR, "Folder of the packaged model (replaced atomically).")
flags.DEFINE_integer("max_faces", 600, "Test faces for the float16 and TFLite check (200 let three faces on a "
                     "judge's threshold read as a 1.5-point loss).")
flags.DEFINE_list("evaluations", [], "Whole-photo evaluation reports (trainers.evaluate_photos) for the model card.")
flags.DEFINE_string("notes", None, "Markdown file the model card adds under 'Known limits of this model': what the "
                    "numbers do not say (how the outputs look, known failures).")
flags.DEFINE_list("step", [], "Package the generator of the run's checkpoint of this step (e.g. the one its monitor "
                  "showed best) instead of the finished run's; several steps (e.g. 5500,5750,6000,6250) package the "
                  "mean of their checkpoints' weights, which sits between the swings of the single checkpoints.")
flags.DEFINE_bool("card_only", False, "Only rewrite the model card of the package in --out (weights untouched).")


def main(argv):
    del argv
    evaluations = []
    for path in FLAGS.evaluations:
        with open(path) as f:
            evaluations.append(json.load(f))
    notes = ""
    if FLAGS.notes:
        with open(FLAGS.notes, encoding="utf-8") as f:
            notes = f.read()
    if FLAGS.card_only:
        packaging.rewrite_card(FLAGS.out, evaluations, notes)
        return
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required (or --card_only)")
    try:
        steps = [int(step) for step in FLAGS.step]
    except ValueError:
        raise app.UsageError(f"--step={','.join(FLAGS.step)}: steps are whole numbers") from None
    try:
        written, _ = packaging.package_run(FLAGS.workdir, FLAGS.out, FLAGS.max_faces, evaluations, notes,
                                           steps=steps)
    except FileNotFoundError as error:  # e.g. no checkpoint of --step: one line, not a traceback
        raise SystemExit(f"error: {error}") from None
    if not written:
        raise SystemExit(1)


if __name__ == "__main__":
    app.run(main)
