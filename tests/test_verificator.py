import keras
import numpy as np
import tensorflow as tf

from ppgan_tf.models import LightCNN9, MaxFeatureMap


def test_light_cnn9_embedding_is_256_and_unit_norm():
    verificator = LightCNN9(channels=1)
    embeddings = verificator(tf.random.uniform([3, 128, 128, 1], -1, 1)).numpy()
    assert embeddings.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_architecture_has_mfm_nin_and_four_pools():
    verificator = LightCNN9(channels=3)
    verificator(tf.zeros([1, 128, 128, 3]))
    layers = verificator.features.layers
    pools = [l for l in layers if isinstance(l, keras.layers.MaxPooling2D)]
    convs = [l for l in layers if isinstance(l, keras.Sequential)]
    nin = [c for c in convs if c.layers[0].kernel_size == (1, 1)]
    assert len(pools) == 4
    assert len(convs) == 9  # conv1 + 4 groups of (1x1 NIN, 3x3)
    assert len(nin) == 4
    assert all(isinstance(c.layers[1], MaxFeatureMap) for c in convs)
    # The published widths: 48, 96, 192, 128, 128 channels after MFM.
    widths = [c.layers[0].filters // 2 for c in convs if c.layers[0].kernel_size != (1, 1)]
    assert widths == [48, 96, 192, 128, 128]


def test_max_feature_map_takes_elementwise_max_of_halves():
    out = MaxFeatureMap()(tf.constant([[1.0, 5.0, 3.0, 4.0, 2.0, 6.0]])).numpy()
    np.testing.assert_array_equal(out, [[4.0, 5.0, 6.0]])


def test_get_config_round_trip():
    verificator = LightCNN9(channels=3, width=0.5, embedding_dim=64, name="v")
    config = verificator.get_config()
    assert {"channels": 3, "width": 0.5, "embedding_dim": 64}.items() <= config.items()
    clone = LightCNN9.from_config(config)
    assert clone.get_config() == config
    assert clone(tf.zeros([1, 128, 128, 3])).shape == (1, 64)
