r"""How far the privacy guard has to go for each model, on a run's held-out aligned faces: a quick read before the
whole-photo evaluation.

    python -m benchmarks.guard --workdir=runs/shipped_cont --dataset=lfw --faces=150 \
        --models=ppgan_tf/pretrained,runs/attr_g01/package_7000 --out=runs/bench/guard.json

Every model gets the same faces (the first `--faces` of `--dataset` in the run's split, as `trainers.prepare_data`
aligned them) and the same noise seeds, through `Deidentifier.process_aligned` with the default guard; no detection,
no paste into the photo, so it takes a few minutes where `trainers.evaluate_photos` takes twenty. Counted per model:
faces passed at the first generation, after more, softened (visible blur), fallen back, counted as the whole-photo
report counts them (`evaluation.photos.guard_counts`). Read it to rank candidates; the whole-photo route gives the
numbers that count (its counts differ by the detector's crops).
"""

import time

from absl import app, flags

from benchmarks import write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run whose config and split choose the held-out faces.")
flags.DEFINE_list("models", [], "Packaged models (folders), compared on the same faces ('' : the shipped one).")
flags.DEFINE_string("dataset", "", "Only the held-out faces of this dataset ('' : all).")
flags.DEFINE_integer("faces", 150, "Held-out faces, in split order.")
flags.DEFINE_integer("first_seed", 100, "Noise seed of the first face (the i-th gets first_seed + i).")
flags.DEFINE_enum("guard_retry", "chain", ["chain", "resample"], "What a retry generates from (Deidentifier's "
                  "guard_retry).")
flags.DEFINE_string("out", None, "JSON results path.")
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
    del argv
    from ppgan_tf.config import RunConfig
    from ppgan_tf.data import images, manifest, split
    from ppgan_tf.deidentify.deidentifier import Deidentifier
    from ppgan_tf.evaluation.photos import guard_counts

    config = RunConfig.load(FLAGS.workdir)
    _, test = split.split_for_run(manifest.load_records(config.data), config, FLAGS.workdir, save=False)
    chosen = [r for r in test if not FLAGS.dataset or r.attribute("dataset") == FLAGS.dataset][:FLAGS.faces]
    loaded = images.load_faces(chosen, config.image_size, 3)
    if not len(loaded.images):
        raise SystemExit(f"{FLAGS.workdir}: no held-out faces of {FLAGS.dataset or 'its data'} could be read")
    for key, problem in loaded.skipped:
        print(f"skipped {key}: {problem}")
    results = {"workdir": FLAGS.workdir, "dataset": FLAGS.dataset, "guard_retry": FLAGS.guard_retry,
               "faces": len(loaded.images), "skipped": [key for key, _ in loaded.skipped], "models": {}}
    for model in FLAGS.models or [""]:
        deidentifier = Deidentifier(model or None, guard_retry=FLAGS.guard_retry)
        started = time.perf_counter()
        counts = guard_counts([deidentifier.process_aligned(face, FLAGS.first_seed + i)[1]
                               for i, face in enumerate(loaded.images)])
        seconds = (time.perf_counter() - started) / len(loaded.images)
        results["models"][model or "shipped"] = {**counts, "seconds_per_face": seconds}
        print(f"{model or 'shipped'}: " + ", ".join(f"{name} {count}" for name, count in counts.items())
              + f" of {len(loaded.images)} ({seconds:.2f} s a face)")
    write_json(FLAGS.out, results)


if __name__ == "__main__":
    app.run(main)
