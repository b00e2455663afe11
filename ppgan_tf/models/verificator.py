"""The PP-GAN verificator V: Light CNN-9, trained as a Siamese net, then frozen."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ppgan_tf")
class MaxFeatureMap(keras.layers.Layer):
    """Max-Feature-Map: the element-wise max of the two halves of the channels.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments, e.g. `dtype`.

    Example:
    >>> MaxFeatureMap()(tf.constant([[1.0, 4.0, 3.0, 2.0]])).numpy()
    array([[3., 4.]], dtype=float32)
    """

    def call(self, inputs):
        first, second = tf.split(inputs, 2, axis=-1)
        return tf.maximum(first, second)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)


@keras.saving.register_keras_serializable(package="ppgan_tf")
class LightCNN9(keras.Model):
    """Light CNN-9 face embedding (Wu et al., 2018), L2-normalised.

    Five convolution groups with Max-Feature-Map activations; groups 2-5
    start with a 1x1 network-in-network convolution; four 2x2 max-pools
    bring 128x128 down to 8x8; a fully connected MFM layer gives the
    embedding, which is returned with unit L2 norm (float32).

    Args:
        channels: int, image channels (1 or 3).
        width: float, multiplier on every layer's filters (1.0 is the
            published network: 48, 96, 192, 128, 128 MFM channels).
        embedding_dim: int, size of the embedding (256 in the paper).
        dtype: string or `keras.DTypePolicy`, passed to every sub-layer.
        **kwargs: standard `keras.Model` arguments, e.g. `name`.

    Example:
    >>> verificator = LightCNN9(channels=1)
    >>> verificator(keras.ops.zeros([2, 128, 128, 1])).shape
    TensorShape([2, 256])
    """

    def __init__(self, channels=1, width=1.0, embedding_dim=256, dtype=None, **kwargs):
        super().__init__(dtype=dtype, **kwargs)

        # === Config ===
        self.channels = channels
        self.width = width
        self.embedding_dim = embedding_dim

        def mfm_conv(out_channels, kernel, name):
            # MFM halves the channels, so the convolution makes twice as many.
            return keras.Sequential(
                [
                    keras.layers.Conv2D(
                        2 * max(1, int(round(out_channels * width))), kernel,
                        padding="same", dtype=dtype,
                    ),
                    MaxFeatureMap(dtype=dtype),
                ],
                name=name,
            )

        def pool():
            return keras.layers.MaxPooling2D(2, dtype=dtype)

        # === Layers ===
        self.features = keras.Sequential(
            [
                mfm_conv(48, 5, "conv1"), pool(),
                mfm_conv(48, 1, "group2_nin"), mfm_conv(96, 3, "group2"), pool(),
                mfm_conv(96, 1, "group3_nin"), mfm_conv(192, 3, "group3"), pool(),
                mfm_conv(192, 1, "group4_nin"), mfm_conv(128, 3, "group4"),
                mfm_conv(128, 1, "group5_nin"), mfm_conv(128, 3, "group5"), pool(),
                keras.layers.Flatten(dtype=dtype),
            ],
            name="features",
        )
        self.embedding = keras.layers.Dense(2 * embedding_dim, dtype="float32", name="fc")
        self.embedding_mfm = MaxFeatureMap(dtype="float32", name="fc_mfm")

    def call(self, inputs):
        x = self.embedding_mfm(self.embedding(self.features(inputs)))
        return tf.math.l2_normalize(x, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"channels": self.channels, "width": self.width, "embedding_dim": self.embedding_dim}
        )
        return config
