import numpy as np
import tensorflow as tf

from ppgan_tf.models import PatchDiscriminator, patch_centres, receptive_field


def test_single_image_in_30x30_logits_out():
    discriminator = PatchDiscriminator(channels=1)
    logits = discriminator(tf.zeros([2, 128, 128, 1]))
    assert logits.shape == (2, 30, 30, 1)
    assert logits.dtype == tf.float32


def test_receptive_field_is_34_from_the_layers():
    discriminator = PatchDiscriminator(channels=3)
    discriminator(tf.zeros([1, 128, 128, 3]))
    assert receptive_field(discriminator.conv_layers) == 34


def test_receptive_field_matches_the_gradient_support():
    # The pixels that move one central logit are exactly a 34x34 square.
    discriminator = PatchDiscriminator(channels=1, base_filters=8)
    image = tf.Variable(tf.random.uniform([1, 128, 128, 1], -1, 1))
    with tf.GradientTape() as tape:
        logit = discriminator(image, training=False)[0, 15, 15, 0]
    gradient = np.abs(tape.gradient(logit, image).numpy()[0, :, :, 0])
    rows, cols = np.nonzero(gradient)
    assert rows.max() - rows.min() + 1 == 34
    assert cols.max() - cols.min() + 1 == 34
    # ... centred where patch_centres says.
    centre = patch_centres(discriminator.conv_layers, 30)[15]
    assert (rows.min() + rows.max()) / 2 == centre == (cols.min() + cols.max()) / 2


def test_get_config_round_trip():
    discriminator = PatchDiscriminator(channels=3, base_filters=16, downsampling_blocks=3, name="d")
    config = discriminator.get_config()
    assert {"channels": 3, "base_filters": 16, "downsampling_blocks": 3}.items() <= config.items()
    clone = PatchDiscriminator.from_config(config)
    assert clone.get_config() == config
    clone(tf.zeros([1, 128, 128, 3]))
    assert receptive_field(clone.conv_layers) == 70  # pix2pix's PatchGAN
