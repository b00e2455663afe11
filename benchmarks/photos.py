r"""Whole photos through ppgan-deidentify's route: photos a second, and where the time goes.

    python -m benchmarks.photos --photos=DIR --out=runs/bench/photos.json \
        [--replacewith=ppgan] [--detector=yunet] [--model=...] [--max_photos=100]

Start-up (imports, loading the detector, model and guard) is timed apart from
the photos; each photo goes through `files.deidentify_photo` (decode, detect,
align, generate under the guard, blend, encode, write) into a temporary
folder, and the de-identifier's own stage timings split the photos' time.
"""

import collections
import os
import tempfile
import time

from absl import app, flags

from benchmarks import write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("photos", None, "Folder of photos.")
flags.DEFINE_string("out", None, "JSON results path.")
flags.DEFINE_string("replacewith", "ppgan", "ppgan, blur, mosaic or solid.")
flags.DEFINE_string("detector", "yunet", "yunet or mtcnn.")
flags.DEFINE_string("model", None, "Model (default: the packaged one).")
flags.DEFINE_integer("max_photos", 100, "Photos taken, in name order (0: all).")
flags.mark_flags_as_required(["photos", "out"])

STAGES = ("decode", "detection", "alignment", "generation", "guard", "blend", "classic", "encode")


def main(argv):
    del argv
    started = time.perf_counter()
    from ppgan_tf.deidentify import files
    from ppgan_tf.deidentify.deidentifier import Deidentifier

    deidentifier = Deidentifier(FLAGS.model, replacewith=FLAGS.replacewith, detector_name=FLAGS.detector)
    startup = time.perf_counter() - started
    names = sorted(name for name in os.listdir(FLAGS.photos) if not name.startswith("."))
    names = names[: FLAGS.max_photos or None]
    counts = collections.Counter()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        for name in names:
            report = files.deidentify_photo(deidentifier, os.path.join(FLAGS.photos, name),
                                            os.path.join(out, name), seed=0)
            counts.update({key: report[key] for key in files.face_counts([])})
        seconds = time.perf_counter() - started
    faces = counts["faces"]
    stages = {stage: deidentifier.timings.get(stage, 0.0) for stage in STAGES}
    stages["other"] = seconds - sum(stages.values())
    # How much generating the guard asked for: faces it passed at once, softened, blurred.
    results = {"photos": len(names), **{key: counts[key] for key in files.face_counts([])},
               "replacewith": FLAGS.replacewith, "detector": FLAGS.detector, "startup_seconds": startup,
               "photo_seconds": seconds, "photos_per_second": len(names) / seconds, "stage_seconds": stages,
               "cpu_count": os.cpu_count()}
    write_json(FLAGS.out, results)
    print(f"{len(names)} photos, {faces} faces ({counts['guard_first_try']} passed the guard at once, "
          f"{counts['guard_softened']} softened, {counts['fallbacks']} fell back), {FLAGS.replacewith} with "
          f"{FLAGS.detector}: start-up {startup:.1f} s, photos {seconds:.1f} s ({len(names) / seconds:.2f} photos/s)")
    print("| stage | seconds | share |")
    print("|---|---|---|")
    for stage, value in stages.items():
        print(f"| {stage} | {value:.2f} | {value / seconds:.1%} |")


if __name__ == "__main__":
    app.run(main)
