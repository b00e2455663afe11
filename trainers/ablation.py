r"""Trains and evaluates the paper's four settings (cgan, cgan_sim, cgan_verif, ppgan) on one split.

    python -m trainers.ablation --workdir=runs/ablation --data=DATA [any RunConfig flag]

One verificator (WORKDIR/verificator) and one FaceNet-style judge serve all
four runs (WORKDIR/<setting>/); writes ablation.json/.md, tradeoff.png,
comparison.png and deidentified.png into WORKDIR. Rerun to resume.
"""

from absl import app, flags

from ppgan_tf import config as run_config
from ppgan_tf.evaluation import ablation, judges
from ppgan_tf.evaluation.report import markdown_report

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "ppgan_runs/ablation", "Work directory of the ablation.")
flags.DEFINE_integer("facenet_steps", 1000, "Training steps of the FaceNet-style judge.")
flags.DEFINE_list("judges", list(judges.JUDGES), "Judges (refused for a run that trained against them): "
                  + ", ".join(judges.JUDGES) + "; dlib needs the [eval] extra.")
flags.DEFINE_bool("detection", True, "Measure MTCNN detection rates.")
flags.DEFINE_integer("max_faces", 0, "Cap on test faces, taken as whole people at random (0: all).")
flags.DEFINE_list("group_by", [], "Manifest attributes to report per group for ppgan and the baselines.")
flags.DEFINE_list("attributes", [], "Attributes whose preservation to measure (e.g. gender).")
run_config.define_flags(FLAGS)


def main(argv):
    del argv
    config = run_config.config_from_flags(FLAGS, FLAGS.workdir)
    detector = None
    if FLAGS.detection:
        from ppgan_tf.faces.detection import FaceDetector

        detector = FaceDetector()
    report = ablation.run_ablation(config, FLAGS.workdir, FLAGS.facenet_steps, FLAGS.judges, detector,
                                   max_faces=FLAGS.max_faces, group_by=FLAGS.group_by, attributes=FLAGS.attributes)
    print(markdown_report(report))


if __name__ == "__main__":
    app.run(main)
