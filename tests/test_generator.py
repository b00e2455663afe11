import keras
import numpy as np
import pytest
import tensorflow as tf

from ppgan_tf.models import NoiseDropout, UNetGenerator
from ppgan_tf.models.generator import NearestUpsampling


@pytest.mark.parametrize("channels", [1, 3])
def test_paper_shapes_and_embedding(channels):
    generator = UNetGenerator(image_size=128, channels=channels)
    faces = tf.random.uniform([2, 128, 128, channels], -1, 1)
    out = generator(faces, noise_seeds=tf.constant([1, 2]))
    assert out.shape == (2, 128, 128, channels)
    assert out.dtype == tf.float32
    assert np.all(np.abs(out.numpy()) <= 1.0)  # tanh
    # The innermost encoder block is the 256x1x1 embedding.
    embedding = faces
    for block in generator.encoder_blocks:
        embedding = block(embedding)
    assert embedding.shape == (2, 1, 1, 256)
    assert len(generator.noise_dropouts) == 2


def test_noise_stays_on_at_inference_and_seeds_fix_it():
    generator = UNetGenerator(image_size=32, channels=1, base_filters=8, max_filters=16)
    faces = tf.random.uniform([3, 32, 32, 1], -1, 1)
    seeds = tf.constant([5, 6, 7], tf.int64)
    first = generator(faces, training=False, noise_seeds=seeds).numpy()
    again = generator(faces, training=False, noise_seeds=seeds).numpy()
    other = generator(faces, training=False, noise_seeds=seeds + 100).numpy()
    unseeded = [generator(faces, training=False).numpy() for _ in range(2)]
    np.testing.assert_array_equal(first, again)
    # An untrained U-Net barely passes its middle on, so any difference counts.
    assert not np.array_equal(first, other)
    assert not np.array_equal(unseeded[0], unseeded[1])


def test_a_face_seed_gives_the_same_output_in_any_batch():
    generator = UNetGenerator(image_size=32, channels=1, base_filters=8, max_filters=16)
    faces = tf.random.uniform([4, 32, 32, 1], -1, 1)
    seeds = tf.constant([11, 12, 13, 14], tf.int64)
    whole = generator(faces, training=False, noise_seeds=seeds).numpy()
    halves = np.concatenate(
        [generator(faces[i:i + 2], training=False, noise_seeds=seeds[i:i + 2]).numpy() for i in (0, 2)]
    )
    np.testing.assert_allclose(whole, halves, atol=1e-5)


def test_noise_dropout_drops_at_its_rate():
    layer = NoiseDropout(rate=0.5)
    out = layer(tf.ones([64, 4, 4, 8]), uniform=tf.random.uniform([64, 4, 4, 8], seed=1)).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert 0.45 < np.mean(out == 0.0) < 0.55


def test_explicit_noise_equals_the_noise_of_its_seeds():
    generator = UNetGenerator(image_size=32, channels=1, base_filters=8, max_filters=16)
    assert generator.noise_shapes == [(2, 2, 16), (4, 4, 16)] and generator.noise_size == 4 * 16 + 16 * 16
    faces = tf.random.uniform([2, 32, 32, 1], -1, 1)
    seeds = tf.constant([4, 9], tf.int64)
    noise = generator.noise_from_seeds(seeds)
    assert noise.shape == (2, generator.noise_size)
    np.testing.assert_array_equal(
        generator(faces, noise=noise).numpy(), generator(faces, noise_seeds=seeds).numpy()
    )
    # The noise really reaches the output: all-kept and all-dropped masks differ.
    assert not np.array_equal(
        generator(faces, noise=tf.ones_like(noise) * 0.99).numpy(),
        generator(faces, noise=tf.zeros_like(noise)).numpy(),
    )


def test_get_config_round_trip_and_saving(tmp_path):
    generator = UNetGenerator(
        image_size=64, channels=3, base_filters=8, max_filters=32, dropout_rate=0.3,
        noise_layers=1, upsampling="resize", name="g",
    )
    faces = tf.random.uniform([1, 64, 64, 3], -1, 1)
    seeds = tf.constant([3])
    expected = generator(faces, noise_seeds=seeds).numpy()
    config = generator.get_config()
    for key in ("image_size", "channels", "base_filters", "max_filters", "dropout_rate",
                "noise_layers", "upsampling"):
        assert key in config
    clone = UNetGenerator.from_config(config)
    assert clone.get_config() == config
    path = str(tmp_path / "g.keras")
    generator.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(faces, noise_seeds=seeds).numpy(), expected, atol=1e-6)


def test_rejects_sizes_that_do_not_halve_to_one_pixel():
    with pytest.raises(ValueError, match="power of two"):
        UNetGenerator(image_size=100)


def test_nearest_upsampling_copies_each_pixel_into_a_2x2_block():
    images = tf.random.uniform([2, 4, 6, 3], seed=5)
    expected = keras.layers.UpSampling2D(2, interpolation="nearest")(images)
    np.testing.assert_array_equal(NearestUpsampling()(images).numpy(), expected.numpy())
