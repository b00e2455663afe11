r"""PP-GAN's training step and input pipeline: images a second under each precision and compiler setting.

    python -m benchmarks.training --workdir=runs/shipped --out=runs/bench/training.json \
        [--variants=float32,mixed_bfloat16,mixed_bfloat16+cached,mixed_bfloat16+autoclustering,...] [--steps=8] \
        [--rounds=3]

WORKDIR's `config.json` gives the recipe (sizes, batch, what G trains
against, views, D); the weights are fresh (speed does not depend on them) and
the faces random, so only the config is read. The run's own V (`lightcnn`)
is stood in for by an untrained Light CNN-9 of the configured width. Each
variant runs in its own process (the precision policy and the compiler
setting are global): one traced step, then the median of `--steps` steps of
the trainer's per-replica step (one G and `discriminator_steps` D updates).
`+cached` gives the trainer the frozen verificators' embeddings of the real faces
(`PPGANTrainer.cache_real_embeddings`, as `fit` does), so the step embeds only the generated ones.
The input pipeline (`pipeline.gan_dataset`) is timed alone, batches drawn and
nothing else. A variant that cannot run (XLA lacks an op) is reported with its error.
With `--rounds=N` every variant is timed N times, in turn; the table gives each
one's median and its speed-up over the first variant (the median of the
per-round ratios: runs of one process vary by a quarter on a shared machine).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from benchmarks import rounds_summary, write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A run whose config.json gives the recipe.")
flags.DEFINE_string("out", None, "JSON results path.")
flags.DEFINE_list("variants", ["float32", "mixed_bfloat16", "mixed_bfloat16+cached",
                                "mixed_bfloat16+cached+autoclustering", "mixed_bfloat16+cached+xla"],
                  "precision[+cached][+autoclustering|+xla] per variant.")
flags.DEFINE_integer("steps", 8, "Timed steps per variant.")
flags.DEFINE_integer("rounds", 1, "Times every variant is timed, in turn (the table compares within rounds).")
flags.DEFINE_string("one_variant", None, "Internal: time this variant in this process and print its JSON.")
flags.mark_flags_as_required(["workdir"])


def _time_variant(variant):
    """{'seconds_per_step', 'images_per_second'} or {'error'} of one variant, in this process."""
    import tensorflow as tf

    from ppgan_tf import config as run_config
    from ppgan_tf.data import pipeline
    from ppgan_tf.models import LightCNN9
    from ppgan_tf.training import ppgan, run, runtime

    precision, *modifiers = variant.split("+")
    if "autoclustering" in modifiers:
        tf.config.optimizer.set_jit("autoclustering")
    config = run_config.RunConfig.load(FLAGS.workdir).replace(precision=precision)
    runtime.set_precision(config.precision)
    stand_in = LightCNN9(channels=config.channels, width=config.verificator_width, embedding_dim=config.embedding_dim)
    stand_in(tf.zeros([1, config.image_size, config.image_size, config.channels]))
    with tempfile.TemporaryDirectory() as unused_checkpoints:
        trainer = ppgan.PPGANTrainer(config, run.load_verificators(config, stand_in), tf.distribute.get_strategy(),
                                     unused_checkpoints)
    trainer.step.assign(config.verif_warmup_steps + config.verif_ramp_steps)  # every term on
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, (64, config.image_size, config.image_size, config.channels), dtype=np.uint8)
    if "cached" in modifiers:
        trainer.cache_real_embeddings(pool)
    step = tf.function(trainer._replica_step, jit_compile="xla" in modifiers, autograph=False)

    def batch():
        indices, flipped = rng.integers(0, len(pool), config.batch_size), rng.random(config.batch_size) < 0.5
        faces = np.where(flipped[:, None, None, None], pool[indices][:, :, ::-1], pool[indices])
        return {"images": pipeline.to_model_range(faces), "face_indices": tf.constant(indices, tf.int64),
                "flipped": tf.constant(flipped), "noise_seeds": tf.constant(rng.integers(0, 1 << 40, config.batch_size))}

    try:
        step(batch())
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
        message = str(error).split("\n")[0]
        return {"error": message.split("XLA_CPU_JIT: ", 1)[-1][:200]}  # the op XLA lacks, where it says
    times = []
    for _ in range(FLAGS.steps):
        inputs = batch()
        started = time.perf_counter()
        float(step(inputs)["generator_total"])
        times.append(time.perf_counter() - started)
    seconds = float(np.median(times))
    return {"seconds_per_step": seconds, "images_per_second": config.batch_size / seconds}


def _time_in_own_process(variant):
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.training", f"--workdir={FLAGS.workdir}", f"--steps={FLAGS.steps}",
         f"--one_variant={variant}"], capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": (completed.stderr.strip().splitlines() or ["no output"])[-1]}


def _time_input_pipeline(config, batches=200):
    from ppgan_tf.data import pipeline

    faces = np.random.default_rng(0).integers(0, 256, (2000, config.image_size, config.image_size, config.channels),
                                              dtype=np.uint8)
    iterator = iter(pipeline.gan_dataset(faces, config.batch_size, flip=config.flip))
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * config.batch_size / (time.perf_counter() - started)


def main(argv):
    del argv
    if FLAGS.one_variant:
        print(json.dumps(_time_variant(FLAGS.one_variant)))
        return
    if not FLAGS.out:
        raise app.UsageError("--out is required")
    from ppgan_tf import config as run_config

    config = run_config.RunConfig.load(FLAGS.workdir)
    rounds = [{variant: _time_in_own_process(variant) for variant in FLAGS.variants} for _ in range(FLAGS.rounds)]
    results = rounds_summary(rounds)
    for row in results.values():
        if "error" not in row:
            row["images_per_second"] = config.batch_size / row["seconds_per_step"]
    pipeline_rate = _time_input_pipeline(config)
    summary = {"workdir": FLAGS.workdir, "batch_size": config.batch_size, "image_size": config.image_size,
               "verificators": config.verificators, "cpu_count": os.cpu_count(), "variants": results,
               "input_pipeline_images_per_second": pipeline_rate}
    write_json(FLAGS.out, summary)
    print(f"recipe of {FLAGS.workdir}: batch {config.batch_size}, {config.image_size} px, G against "
          f"{config.verificators}; input pipeline alone {pipeline_rate:.0f} images/s")
    print(f"| variant | s/step (median of {FLAGS.rounds}) | min-max | images/s | speed-up over {FLAGS.variants[0]} |")
    print("|---|---|---|---|---|")
    for variant, row in results.items():
        if "error" in row:
            print(f"| {variant} | - | - | - ({row['error'][:120]}) | - |")
        else:
            speedup = "-" if row["speedup"] is None else f"{row['speedup']:.2f}"  # None: the first variant failed
            print(f"| {variant} | {row['seconds_per_step']:.2f} | {row['min']:.2f}-{row['max']:.2f} | "
                  f"{row['images_per_second']:.1f} | {speedup} |")


if __name__ == "__main__":
    app.run(main)
