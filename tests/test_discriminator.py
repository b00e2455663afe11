import keras
import numpy as np
import tensorflow as tf

from ppgan_tf.models import PatchDiscriminator, ProjectedDiscriminator, patch_centres, receptive_field


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


def test_projected_d_learns_only_its_heads_and_passes_gradients_to_the_image():
    discriminator = ProjectedDiscriminator(channels=1, filters=8)
    image = tf.Variable(tf.random.uniform([2, 128, 128, 1], -1, 1))
    with tf.GradientTape() as tape:
        logits = discriminator(image)
    assert logits.shape == (2, 28, 28, 2) and logits.dtype == tf.float32
    # The 14x14 head's logits are repeated over 2x2 blocks of the 28x28 grid, so both heads weigh alike.
    coarse = logits.numpy()[..., 1]
    np.testing.assert_array_equal(coarse, np.repeat(np.repeat(coarse[:, ::2, ::2], 2, axis=1), 2, axis=2))
    # SFace stays frozen: the trainable weights are the heads' (1x1 mix, 3x3 conv, 1x1 logits; kernels and biases).
    assert len(discriminator.trainable_variables) == 2 * 3 * 2
    heads = sum(int(np.prod(v.shape)) for v in discriminator.trainable_variables)
    assert heads == sum((c * 8 + 8) + (9 * 8 * 8 + 8) + (8 + 1) for c in (256, 512))
    gradient = tape.gradient(logits, image).numpy()
    assert np.abs(gradient).max() > 0


def test_projected_d_sees_only_the_inner_face():
    keras.utils.set_random_seed(0)  # the heads' initial weights set how far a change moves the logits
    discriminator = ProjectedDiscriminator(channels=3, filters=8)
    face = np.random.default_rng(0).uniform(-1, 1, [1, 128, 128, 3]).astype(np.float32)
    verdict = discriminator(face).numpy()
    framed = face.copy()
    framed[:, :8], framed[:, -8:], framed[:, :, :8], framed[:, :, -8:] = 1.0, -1.0, 1.0, -1.0  # outside the template
    np.testing.assert_allclose(discriminator(framed).numpy(), verdict, atol=1e-5)
    centre = face.copy()
    centre[:, 56:72, 56:72] = 1.0
    # A changed nose moves the verdict (5e-4 to 3e-3 over initial seeds 0-3) where the frame moves it by exactly 0.
    assert np.abs(discriminator(centre).numpy() - verdict).max() > 1e-4


def test_a_conditioned_projected_d_judges_a_face_given_its_condition():
    keras.utils.set_random_seed(0)
    discriminator = ProjectedDiscriminator(channels=3, filters=8, condition_size=3)
    face = np.random.default_rng(0).uniform(-1, 1, [2, 128, 128, 3]).astype(np.float32)
    one, other = np.eye(3, dtype=np.float32)[[0, 0]], np.eye(3, dtype=np.float32)[[1, 1]]
    assert np.abs(discriminator(face, one).numpy() - discriminator(face, other).numpy()).max() > 1e-4
    # No condition reads as zeros: the unconditioned logits, which an all-zero condition leaves alone.
    np.testing.assert_allclose(discriminator(face).numpy(), discriminator(face, np.zeros([2, 3], np.float32)).numpy())
    assert len(discriminator.condition_projections) == 2
    assert not ProjectedDiscriminator(channels=3, filters=8).condition_projections


def test_projected_d_get_config_round_trip():
    discriminator = ProjectedDiscriminator(channels=3, stages=1, filters=16, condition_size=4, name="d")
    config = discriminator.get_config()
    expected = {"backbone": "sface", "stages": 1, "filters": 16, "channels": 3, "condition_size": 4}
    assert expected.items() <= config.items()
    clone = ProjectedDiscriminator.from_config(config)
    assert clone.get_config() == config
    assert clone(tf.zeros([1, 128, 128, 3])).shape == (1, 14, 14, 1)
