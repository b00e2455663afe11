"""Runs a few PP-GAN steps under one tf.distribute strategy and saves the weights.

Used by test_distributed.py in fresh processes: logical devices and
multi-worker clusters must be set up before TensorFlow starts.

    python tests/distributed_worker.py --strategy=mirrored --out=weights.npz
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", choices=["default", "mirrored", "multi_worker"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()

    import tensorflow as tf

    if args.strategy == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
        )
    from conftest import synthetic_face, tiny_config
    from ppgan_tf.models import LightCNN9
    from ppgan_tf.training import ppgan, runtime
    import keras

    config = tiny_config(batch_size=4, strategy=args.strategy, generator_average_decay=0.5)
    strategy = runtime.make_strategy(config.strategy)
    with strategy.scope():
        keras.utils.set_random_seed(123)
        verificator = LightCNN9(channels=1, width=config.verificator_width, embedding_dim=config.embedding_dim)
        verificator(tf.zeros([1, 32, 32, 1]))
        verificator.trainable = False
    trainer = ppgan.PPGANTrainer(config, verificator, strategy, tempfile.mkdtemp())
    faces = np.stack([synthetic_face(i % 4, i, 32)[:, :, None] for i in range(8)])
    iterator = iter(trainer.distribute(ppgan.pipeline.gan_dataset(faces, config.batch_size, seed=0)))
    losses = [trainer.train_step(next(iterator))["generator_total"].numpy() for _ in range(args.steps)]
    models = (trainer.generator, trainer.discriminator, trainer.generator_average)
    weights = [w.numpy() for model in models for w in model.weights]
    np.savez(
        args.out, replicas=strategy.num_replicas_in_sync, losses=np.array(losses),
        **{f"w{i}": w for i, w in enumerate(weights)},
    )


if __name__ == "__main__":
    main()
