r"""Evaluates a trained run against independent judges and the classic baselines.

    python -m trainers.evaluate --workdir=ppgan_runs/default [--data=OTHER_MANIFEST]
    python -m trainers.evaluate --workdir=RUN --model=ppgan_tf/pretrained --out=RUN/evaluation_shipped

Writes WORKDIR/evaluation/{report.json,report.md,tradeoff.png}; the FaceNet
judge is trained once on the run's training split and kept there. With
--data, the run's generator is evaluated on another dataset (a share of it;
the rest trains the attribute classifiers) into WORKDIR/evaluation_<folder>.
With --model, another model (a packaged one, a work directory, an export) is
judged on the run's faces in place of its generator, into --out.
"""

from absl import app, flags

from ppgan_tf.evaluation import evaluate, judges
from ppgan_tf.evaluation.report import markdown_report

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "ppgan_runs/default", "Work directory of a trained run.")
flags.DEFINE_integer("facenet_steps", 1000, "Training steps of the FaceNet-style judge.")
flags.DEFINE_list("judges", list(judges.JUDGES), "Judges (refused for a run that trained against them): "
                  + ", ".join(judges.JUDGES) + "; dlib needs the [eval] extra.")
flags.DEFINE_bool("detection", True, "Measure MTCNN detection rates (with and without 50 px padding).")
flags.DEFINE_list("group_by", [], "Manifest attributes to report per group (e.g. gender; age is binned; race+age crosses).")
flags.DEFINE_list("attributes", [], "Attributes whose preservation to measure with classifiers (e.g. gender).")
flags.DEFINE_integer("attribute_steps", 500, "Training steps of each attribute classifier.")
flags.DEFINE_string("attribute_classifier", "cnn", "What reads the attributes: 'cnn' (a small CNN trained on the "
                    "faces) or a pretrained recogniser ('facenet', 'sface': a linear probe on its embeddings; refused "
                    "if the generator trained against it).")
flags.DEFINE_integer("max_faces", 0, "Cap on test faces, taken as whole people at random (0: all).")
flags.DEFINE_bool("baselines", True, "Also evaluate blur, pixelation, black mask and k-same.")
flags.DEFINE_string("data", None, "Evaluate on this dataset instead of the run's own test split.")
flags.DEFINE_string("model", None, "Model to judge instead of the run's generator (a packaged model folder, a work "
                    "directory, a SavedModel, .tflite or .onnx); the judges it trained against are refused.")
flags.DEFINE_string("out", None, "Report folder (default WORKDIR/evaluation, or WORKDIR/evaluation_<folder> with "
                    "--data).")
flags.DEFINE_float("data_test_fraction", 0.5, "With --data: share evaluated; the rest trains attribute classifiers.")
flags.register_multi_flags_validator(
    ["model", "out"], lambda values: not values["model"] or bool(values["out"]),
    "--model needs --out: the report of another model must not overwrite the run's own")


def main(argv):
    del argv
    detector = None
    if FLAGS.detection:
        from ppgan_tf.faces.detection import FaceDetector

        detector = FaceDetector()
    report = evaluate.evaluate_run(
        FLAGS.workdir, FLAGS.facenet_steps, FLAGS.judges, detector, group_by=FLAGS.group_by,
        attributes=FLAGS.attributes, attribute_steps=FLAGS.attribute_steps, max_faces=FLAGS.max_faces,
        include_baselines=FLAGS.baselines, data=FLAGS.data, test_fraction=FLAGS.data_test_fraction,
        attribute_classifier=FLAGS.attribute_classifier, model=FLAGS.model, out=FLAGS.out,
    )
    print(markdown_report(report))


if __name__ == "__main__":
    app.run(main)
