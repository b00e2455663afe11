r"""Trains PP-GAN: G and D against a frozen verificator (pretrained first if none is given).

With no flags it trains on the built-in ORL faces into ./ppgan_runs/default:

    python -m trainers.train_ppgan
    python -m trainers.train_ppgan --workdir=runs/lfw --data=../shared/datasets/lfw_dev/manifest.csv \
        --channels=3 --crop_fraction=0.52 --preset=paper

The shipped model's recipe, on faces prepared with trainers.prepare_data; the
same command resumes where it stopped (checkpoints every 250 steps), so it can
run over days:

    python -m trainers.train_ppgan --workdir=runs/shipped --preset=shipped \
        --data=runs/prep_lfw/manifest.csv,runs/prep_utkface/manifest.csv,runs/prep_celeba/manifest.csv

Every field of `ppgan_tf.config.RunConfig` is a flag; rerun a work directory
to resume it.
"""

from absl import app, flags

from ppgan_tf import config as run_config
from ppgan_tf.training import run

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "ppgan_runs/default", "Work directory of the run (created, or resumed).")
run_config.define_flags(FLAGS)


def main(argv):
    del argv
    config = run_config.config_from_flags(FLAGS, FLAGS.workdir)
    results = run.train_ppgan(config, FLAGS.workdir)
    if results:
        print(run.describe_workdir(FLAGS.workdir, results))


if __name__ == "__main__":
    app.run(main)
