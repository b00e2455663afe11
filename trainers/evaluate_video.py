r"""Judges video de-identification: a clip of still photos moving side by side, per person and method.

    python -m trainers.evaluate_video --out=runs/video_eval \
        --workdir=runs/shipped --dataset=lfw --photos_root=../shared/datasets/lfw_dev --people=3 \
        [--model=ppgan_tf/pretrained] [--methods=ppgan,blur,mosaic] [--frames=150]

or with any photos: `--photos=a.jpg,b.jpg`. The people are the first photos of
the run's held-out people (whole people never in training). The model is the
packaged one unless --model or --workdir names another; judges the model
trained against, and the privacy guard's recogniser, are refused. Writes
OUT/report.json, OUT/report.md, the clip and each method's output video, and
prints the table (see `ppgan_tf.evaluation.video`).
"""

from absl import app, flags

from ppgan_tf.evaluation import judges, video
from ppgan_tf.training import run

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Folder for the clip, the output videos and the report.")
flags.DEFINE_list("photos", [], "Still photos, one person each (instead of a run's held-out people).")
flags.DEFINE_string("workdir", None, "A run whose held-out people appear (with --photos_root).")
flags.DEFINE_string("dataset", "", "Source dataset of the run's test photos (e.g. lfw).")
flags.DEFINE_string("photos_root", None, "Folder the prepared dataset's photos came from.")
flags.DEFINE_integer("people", 3, "People in the clip, side by side.")
flags.DEFINE_string("model", None, "Model (default: the run's, or the packaged one without --workdir).")
flags.DEFINE_list("methods", ["ppgan", "blur", "mosaic"], "What replaces the faces, one output video each.")
flags.DEFINE_list("judges", ["dlib", "facenet", "sface"], "Judges (refused if the model trained against them).")
flags.DEFINE_integer("frames", 150, "Frames in the clip (25 per second).")
flags.DEFINE_integer("frame_memory", 5, "Frames a missed face stays hidden at its last box.")
flags.DEFINE_integer("seed", 0, "First track's noise seed.")
flags.mark_flag_as_required("out")


def photo_paths():
    """The clip's photos: --photos, or the first photo of each of the first --people held-out people."""
    if FLAGS.photos:
        return FLAGS.photos
    if not (FLAGS.workdir and FLAGS.photos_root):
        raise app.UsageError("give --photos, or --workdir with --photos_root")
    from ppgan_tf.evaluation import photos

    paths, records = photos.test_photos(FLAGS.workdir, FLAGS.dataset, FLAGS.photos_root)
    first = {}
    for path, record in zip(paths, records):
        first.setdefault(record.identity, path)
    return list(first.values())[: FLAGS.people * 2]  # spares, for photos without a detectable face


def main(argv):
    del argv
    from ppgan_tf.deidentify.deidentifier import GUARD_WITH, Deidentifier
    from ppgan_tf.faces.detection import FaceDetector

    model = FLAGS.model or FLAGS.workdir
    judge_list, refused = judges.build_judges(FLAGS.judges, run.model_trained_against(model), guarded_by=GUARD_WITH)
    detector = FaceDetector()
    people = video.people_of_photos(photo_paths(), detector)[: FLAGS.people]
    if len(people) < 2:
        raise app.UsageError(f"{len(people)} photo(s) with a face: a clip needs at least two people")
    deidentifiers = {method: Deidentifier(model, replacewith=method, detector=detector) for method in FLAGS.methods}
    report = video.evaluate_video(people, deidentifiers, judge_list, FLAGS.out, frames=FLAGS.frames,
                                  seed=FLAGS.seed, frame_memory=FLAGS.frame_memory, refused_judges=refused)
    print(video.markdown_table(report))


if __name__ == "__main__":
    app.run(main)
