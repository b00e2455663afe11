r"""Evaluates a model through the whole-photo route on a run's held-out photos.

    python -m trainers.evaluate_photos --workdir=runs/shipped --dataset=lfw \
        --photos_root=../shared/datasets/lfw_dev [--model=ppgan_tf/pretrained]

The photos are those of the run's test faces from --dataset (the people held out
of training); each goes through the de-identifier (detection, alignment, the
generator under the guard (FaceNet, or --guard_with=sface), pasting back) and is judged
by dlib at its published threshold 0.6 and by the pretrained recognisers the judged model
never trained against (its own record: a packaged model's model.json, or a work directory's
config) and the guard did not use, beside the baselines. Writes report.json,
report.md, tradeoff.png and faces.csv (one row per face) to
WORKDIR/evaluation_photos_<dataset>/ (or --out) and prints the table.
"""

from absl import app, flags

from ppgan_tf.deidentify.deidentifier import (GUARD_MARGIN, GUARD_RETRIES, GUARD_RETRY, GUARD_SOFTEN, GUARD_TRIES,
                                             GUARD_WITH, Deidentifier)
from ppgan_tf.evaluation import judges, photos
from ppgan_tf.training import run

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Work directory of the run whose held-out photos are evaluated.")
flags.DEFINE_string("dataset", "", "Source dataset of a multi-source run (e.g. lfw); '' for all test photos.")
flags.DEFINE_string("photos_root", None, "Folder the prepared dataset's photos came from (its 'source' paths).")
flags.DEFINE_string("model", None, "Model to evaluate (default: the run's own, WORKDIR).")
flags.DEFINE_integer("max_photos", 0, "Cap on photos, taken as whole people at random (0: all).")
flags.DEFINE_integer("first_seed", 0, "Noise seed of the first photo (the i-th photo's is first_seed + i); other "
                     "values show how much the numbers move with the generator's noise.")
flags.DEFINE_list("judges", ["dlib", "facenet", "sface"], "Judges (refused if the model trained against them).")
flags.DEFINE_list("group_by", [], "Manifest attributes to report per group (gender, race, age, ...).")
flags.DEFINE_bool("baselines", True, "Also judge blur, pixelation, mask and k-same on the original crops.")
flags.DEFINE_bool("detection", True, "Measure MTCNN detection with and without 50 px padding.")
flags.DEFINE_bool("second_detector", True, "Also measure detection by dlib's HOG frontal face detector.")
flags.DEFINE_string("out", None, "Report folder (default WORKDIR/evaluation_photos_<dataset>).")
flags.DEFINE_integer("guard_tries", GUARD_TRIES, "Generations the guard may try per face before the blur.")
flags.DEFINE_float("guard_margin", GUARD_MARGIN,
                   "Distance the guard's recogniser must see, as a multiple of its threshold.")
flags.DEFINE_enum("guard_retry", GUARD_RETRY, GUARD_RETRIES,
                 "What the guard's retries generate from: the last generated face (chain) or the original.")
flags.DEFINE_list("guard_soften", [f"{sigma:g}" for sigma in GUARD_SOFTEN],
                  "Blurs (Gaussian sigmas) tried on the last generated face before the fallback; '' for none.")
flags.DEFINE_enum("guard_with", GUARD_WITH, ["facenet", "sface"],
                  "The guard's recogniser; it is refused as a judge (it passed only faces it no longer matched).")
flags.DEFINE_enum("route_detector", "mtcnn", ["mtcnn", "yunet"],
                  "The de-identifier's detector (ppgan-deidentify's default is yunet; mtcnn keeps earlier numbers "
                  "comparable).")
flags.mark_flags_as_required(["workdir", "photos_root"])


def main(argv):
    del argv
    from ppgan_tf.faces.detection import DlibFrontalDetector, FaceDetector

    # The judged model's record; a SavedModel, .tflite or .onnx keeps none: the run's own then.
    trained_against = run.model_trained_against(FLAGS.model or FLAGS.workdir,
                                                default=run.model_trained_against(FLAGS.workdir))
    judge_list, _ = judges.build_judges(FLAGS.judges, trained_against, guarded_by=FLAGS.guard_with)
    deidentifier = Deidentifier(FLAGS.model or FLAGS.workdir, detector_name=FLAGS.route_detector,
                                guard_with=FLAGS.guard_with, guard_tries=FLAGS.guard_tries,
                                guard_margin=FLAGS.guard_margin,
                                guard_retry=FLAGS.guard_retry,
                                guard_soften=[float(sigma) for sigma in FLAGS.guard_soften])
    report = photos.evaluate_photos(
        FLAGS.workdir, FLAGS.dataset, FLAGS.photos_root, deidentifier, judge_list,
        detector=FaceDetector() if FLAGS.detection else None, max_photos=FLAGS.max_photos or None,
        include_baselines=FLAGS.baselines, group_by=FLAGS.group_by, trained_against=trained_against, out=FLAGS.out,
        second_detector=DlibFrontalDetector() if FLAGS.second_detector else None, first_seed=FLAGS.first_seed,
    )
    print(photos.markdown_table(report))


if __name__ == "__main__":
    app.run(main)
