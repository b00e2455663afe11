r"""Pretrains the verificator (Light CNN-9, Siamese, contrastive loss) of a run.

    python -m trainers.train_verificator --workdir=ppgan_runs/default

Writes WORKDIR/verificator/{verificator.keras,verificator.json}; the accuracy
on test pairs uses a threshold chosen by 10-fold cross-validation.
"""

from absl import app, flags

from ppgan_tf import config as run_config
from ppgan_tf.training import run

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "ppgan_runs/default", "Work directory of the run.")
run_config.define_flags(FLAGS)


def main(argv):
    del argv
    config = run_config.config_from_flags(FLAGS, FLAGS.workdir)
    run.pretrain_verificator(config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
